//! The dirty cases of spec section 3, read back from the published Parquet:
//! every rejection rule and boundary has at least one row at a tiny scale.

use std::collections::HashSet;

use arrow::array::AsArray;
use arrow::datatypes::Date32Type;

use super::*;

#[tokio::test]
async fn ventas_carry_every_rejection_rule_and_boundary() {
    let (dir, summary) = generated(0.002, 42).await;
    let sizes = GenerateOptions {
        scale: 0.002,
        seed: 42,
        years: 1,
    }
    .sizes()
    .unwrap();
    let ventas = read(dir.path(), &summary.extractions[0], "ventas");
    let ids: Vec<i64> = i64s(&ventas, "id_venta").into_iter().flatten().collect();
    assert_eq!(ids, (1..=sizes.tickets).collect::<Vec<_>>());
    let tiendas = i32s(&ventas, "id_tienda");
    let clientes = i64s(&ventas, "id_cliente");
    let fechas = seconds(&ventas, "fecha_venta");
    let estados = texts(&ventas, "estado");
    let canales = texts(&ventas, "canal");
    let medios = texts(&ventas, "medio_pago");

    let unknown_store = |i: usize| tiendas[i] > sizes.stores;
    let future = |i: usize| fechas[i] > INITIAL;
    let invalid = |i: usize| !["COMPLETADA", "ANULADA"].contains(&norm(&estados[i]).as_str());
    let rows = 0..ids.len();
    assert!(rows.clone().any(unknown_store));
    assert!(rows.clone().any(future));
    assert!(rows.clone().any(invalid));
    assert!(
        rows.clone()
            .any(|i| unknown_store(i) && future(i) && invalid(i))
    );
    // Random defects too, not only the planted ones.
    assert!(
        rows.clone()
            .any(|i| ids[i] > planted::LAST_TICKET && unknown_store(i))
    );
    assert!(rows.clone().any(|i| norm(&estados[i]) == "ANULADA"));
    assert!(clientes.iter().any(Option::is_none));
    assert!(
        clientes
            .iter()
            .flatten()
            .all(|&c| (1..=sizes.customers).contains(&c))
    );
    assert!(
        canales.iter().any(is_dirty) && medios.iter().any(is_dirty) && estados.iter().any(is_dirty)
    );
    assert!(
        canales
            .iter()
            .all(|c| rows::CHANNELS.contains(&norm(c).as_str()))
    );
    assert!(
        medios
            .iter()
            .all(|m| rows::PAYMENTS.contains(&norm(m).as_str()))
    );
    // The time-zone boundary: the UTC date is not the business (Lima) date.
    let next_utc_day = fechas
        .iter()
        .filter(|&&f| f.div_euclid(86_400) != (f - LIMA_OFFSET).div_euclid(86_400));
    assert!(next_utc_day.count() > ids.len() / 5);
    // Local trading hours 07:00–23:59:59 for every 2025 sale.
    for &f in fechas.iter().filter(|&&f| f < INITIAL) {
        let local = (f - LIMA_OFFSET).rem_euclid(86_400);
        assert!((7 * 3_600..86_400).contains(&local), "{f}");
    }
    let at = |id: i64| fechas[(id - 1) as usize];
    assert_eq!(at(planted::TICKET_MONTH_END), 1_740_799_800);
    assert_eq!(at(planted::TICKET_NEW_YEARS_EVE), 1_735_707_599);
    assert_eq!(canales[4].as_deref(), Some(" tienda"));
    assert_eq!(clientes[5], None);
}

#[tokio::test]
async fn lines_carry_every_rejection_rule() {
    let (dir, summary) = generated(0.002, 42).await;
    let [e1, e2] = [0, 1].map(|i| &summary.extractions[i]);
    let lines = read(dir.path(), e1, "detalle_ventas");
    let headers: HashSet<i64> = [e1, e2]
        .iter()
        .flat_map(|m| i64s(&read(dir.path(), m, "ventas"), "id_venta"))
        .flatten()
        .collect();
    let ventas: Vec<i64> = i64s(&lines, "id_venta").into_iter().flatten().collect();
    let linea = i32s(&lines, "linea");
    let productos = i32s(&lines, "id_producto");
    let cantidades = i32s(&lines, "cantidad");
    let precios = decimals(&lines, "precio_unitario");
    let descuentos = decimals(&lines, "descuento");
    let keys: HashSet<(i64, i32)> = ventas.iter().copied().zip(linea.iter().copied()).collect();
    assert_eq!(
        keys.len(),
        ventas.len(),
        "duplicate (id_venta, linea) in one extraction"
    );
    // In key order across the files, orphans last, as a source table is
    // extracted: a read of a range of tickets skips the other row groups.
    assert!(
        ventas.windows(2).all(|pair| pair[0] <= pair[1]),
        "E1's lines are not in id_venta order"
    );

    let rows = 0..ventas.len();
    let orphan = |i: usize| !headers.contains(&ventas[i]);
    let gross = |i: usize| i128::from(cantidades[i]) * precios[i];
    assert!(rows.clone().any(orphan));
    assert!(
        rows.clone()
            .any(|i| ventas[i] == planted::orphan_ticket(2_000))
    );
    assert!(rows.clone().any(|i| productos[i] > PRODUCTS));
    assert!(rows.clone().any(|i| cantidades[i] == 0));
    assert!(rows.clone().any(|i| cantidades[i] < 0));
    assert!(rows.clone().any(|i| precios[i] < 0));
    assert!(rows.clone().any(|i| descuentos[i] < 0));
    assert!(
        rows.clone()
            .any(|i| cantidades[i] > 0 && precios[i] >= 0 && descuentos[i] > gross(i))
    );
    assert!(
        rows.clone()
            .any(|i| descuentos[i] > 0 && descuentos[i] <= gross(i))
    );
    // The lines the rules accept look like sales.
    let valid = |i: usize| {
        !orphan(i)
            && productos[i] <= PRODUCTS
            && cantidades[i] > 0
            && precios[i] >= 0
            && (0..=gross(i)).contains(&descuentos[i])
    };
    let accepted = rows.clone().filter(|&i| valid(i)).count();
    assert!(
        accepted > ventas.len() * 99 / 100,
        "{accepted} of {}",
        ventas.len()
    );
    assert!(
        rows.clone()
            .filter(|&i| valid(i))
            .all(|i| (1..=10).contains(&cantidades[i]))
    );
    let mean = ventas.len() as f64 / headers.len() as f64;
    assert!((2.7..3.3).contains(&mean), "{mean} lines per ticket");
}

#[tokio::test]
async fn dimensions_are_dirty_but_plausible() {
    let (dir, summary) = generated(0.002, 42).await;
    let e1 = &summary.extractions[0];
    let tiendas = read(dir.path(), e1, "tiendas");
    assert_eq!(texts(&tiendas, "codigo")[0].as_deref(), Some(" lim-001"));
    assert_eq!(texts(&tiendas, "nombre")[0].as_deref(), Some("DMC Ñaña "));

    let productos = read(dir.path(), e1, "productos");
    assert_eq!(productos.num_rows(), PRODUCTS as usize);
    let (precio, costo) = (
        decimals(&productos, "precio_lista"),
        decimals(&productos, "costo_unitario"),
    );
    assert!(
        precio
            .iter()
            .zip(&costo)
            .all(|(p, c)| *c > 0 && *c < p * 100)
    );
    assert!(costo.iter().filter(|c| *c % 10 != 0).count() > PRODUCTS as usize / 2);
    assert!(costo.iter().any(|c| c % 100 == 50));
    assert_eq!(&costo[..3], &[123_456, 100_200, 33_325]);
    assert!(
        texts(&productos, "subcategoria")
            .iter()
            .any(Option::is_none)
    );
    assert!(texts(&productos, "marca").iter().any(Option::is_none));
    assert!(texts(&productos, "sku").iter().any(is_dirty));
    let names = texts(&productos, "nombre");
    assert!(
        names
            .iter()
            .flatten()
            .any(|n| n.starts_with(' ') || n.ends_with(' '))
    );
    assert!(
        names
            .iter()
            .flatten()
            .any(|n| n.contains('ñ') || n.contains('é'))
    );

    let clientes = read(dir.path(), e1, "clientes");
    let documentos = texts(&clientes, "documento");
    assert!(
        documentos
            .iter()
            .flatten()
            .all(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
    );
    let distinct: HashSet<_> = documentos.iter().flatten().collect();
    assert_eq!(distinct.len(), documentos.iter().flatten().count());
    for column in ["documento", "nombre", "email", "ciudad"] {
        assert!(
            texts(&clientes, column).iter().any(Option::is_none),
            "{column}"
        );
    }
    assert!(
        column(&clientes, "fecha_registro")
            .as_primitive::<Date32Type>()
            .null_count()
            > 0
    );
    let segmentos = texts(&clientes, "segmento");
    assert!(
        segmentos
            .iter()
            .all(|s| ["REGULAR", "FRECUENTE", "VIP"].contains(&norm(s).as_str()))
    );
    assert!(segmentos.iter().any(is_dirty));
    let nombres = texts(&clientes, "nombre");
    assert_eq!(nombres[0].as_deref(), Some("José Gálvez Peña"));
    assert!(nombres.iter().flatten().any(|n| n.contains('ñ')));
}
