//! How the retail project's models are rebuilt for a night's changes.

use super::*;
use std::collections::BTreeSet;

/// The modes of the retail project's models when `changed` raw tables
/// have new rows.
fn retail_modes(changed: &[&str]) -> BTreeMap<String, Mode> {
    let project = Project::builtin().unwrap();
    let changed: BTreeSet<SourceTable> = changed
        .iter()
        .map(|name| project.sources.get(name).unwrap().clone())
        .collect();
    let impact = impact(&project.models, &[], (&changed, &BTreeSet::new()));
    modes(&project.models, &impact)
}

#[test]
fn a_night_of_tickets_and_customers_rebuilds_them_by_key_and_the_report_by_period() {
    let modes = retail_modes(&["ventas", "detalle_ventas", "clientes"]);
    for table in [
        "staging.ventas",
        "trusted.ventas",
        "rejected.ventas",
        "staging.detalle_ventas",
        "trusted.detalle_ventas",
        "rejected.detalle_ventas",
        "staging.clientes",
        "trusted.clientes",
    ] {
        assert_eq!(modes.get(table), Some(&Mode::Keys), "{table}");
    }
    assert_eq!(
        modes.get("analytic.reporte_ventas_tienda"),
        Some(&Mode::Periods)
    );
    // Stores and products did not change: kept as published.
    assert!(!modes.contains_key("trusted.productos"));
    assert!(!modes.contains_key("trusted.tiendas"));
}

#[test]
fn a_changed_product_rebuilds_the_lines_and_the_report_whole() {
    let modes = retail_modes(&["ventas", "productos"]);
    assert_eq!(modes.get("trusted.ventas"), Some(&Mode::Keys));
    for table in [
        "trusted.productos",
        "staging.detalle_ventas",
        "trusted.detalle_ventas",
        "analytic.reporte_ventas_tienda",
    ] {
        assert_eq!(modes.get(table), Some(&Mode::Whole), "{table}");
    }
}

#[test]
fn a_changed_store_rebuilds_every_ticket() {
    // staging.ventas checks each ticket's store: a store that appears
    // or goes changes tickets of any key.
    let modes = retail_modes(&["tiendas"]);
    assert_eq!(modes.get("staging.ventas"), Some(&Mode::Whole));
    assert_eq!(modes.get("trusted.ventas"), Some(&Mode::Whole));
    assert_eq!(
        modes.get("analytic.reporte_ventas_tienda"),
        Some(&Mode::Whole)
    );
}
