//! The second extraction: later changes, ties and stale copies of rows of
//! every table, each comparable with its E1 version.

use std::collections::HashMap;

use arrow::array::{Array, RecordBatch};

use super::*;

#[tokio::test]
async fn the_second_extraction_changes_ties_and_goes_stale() {
    let (dir, summary) = generated(0.002, 42).await;
    let [e1, e2] = [0, 1].map(|i| &summary.extractions[i]);
    let index = |batch: &RecordBatch| -> HashMap<i64, usize> {
        let ids = i64s(batch, "id_venta");
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.unwrap(), i))
            .collect()
    };
    let (v1, v2) = (
        read(dir.path(), e1, "ventas"),
        read(dir.path(), e2, "ventas"),
    );
    let at1 = index(&v1);
    let (act1, act2) = (
        seconds(&v1, "actualizado_en"),
        seconds(&v2, "actualizado_en"),
    );
    let (pay1, pay2) = (texts(&v1, "medio_pago"), texts(&v2, "medio_pago"));
    let (can1, can2) = (texts(&v1, "canal"), texts(&v2, "canal"));
    let (est1, est2) = (texts(&v1, "estado"), texts(&v2, "estado"));
    let (mut tie, mut stale, mut voided, mut random) = (0, 0, 0, 0);
    for (j, id) in i64s(&v2, "id_venta").into_iter().enumerate() {
        let id = id.unwrap();
        let i = at1[&id];
        random += usize::from(id > planted::LAST_TICKET);
        if act2[j] == act1[i] {
            assert_ne!(norm(&pay2[j]), norm(&pay1[i]), "a tie must differ");
            tie += 1;
        } else if act2[j] < act1[i] {
            assert_ne!(norm(&can2[j]), norm(&can1[i]), "a stale copy must differ");
            stale += 1;
        } else {
            assert!(act2[j] > INITIAL && act2[j] <= INCREMENTAL);
            voided += usize::from(norm(&est1[i]) == "COMPLETADA" && norm(&est2[j]) == "ANULADA");
        }
    }
    assert!(
        tie >= 1 && stale >= 1 && voided >= 1,
        "tie {tie}, stale {stale}, voided {voided}"
    );
    assert!(random >= 1, "no random re-extraction");
    let planted_e2 = [7, 8, 9, 10].map(|id| i64s(&v2, "id_venta").contains(&Some(id)));
    assert_eq!(planted_e2, [true; 4]);

    let (d1, d2) = (
        read(dir.path(), e1, "detalle_ventas"),
        read(dir.path(), e2, "detalle_ventas"),
    );
    let key = |b: &RecordBatch| -> Vec<(i64, i32)> {
        i64s(b, "id_venta")
            .into_iter()
            .flatten()
            .zip(i32s(b, "linea"))
            .collect()
    };
    let at = key(&d1)
        .into_iter()
        .enumerate()
        .map(|(i, k)| (k, i))
        .collect::<HashMap<_, _>>();
    let (q1, q2) = (i32s(&d1, "cantidad"), i32s(&d2, "cantidad"));
    let (t1, t2) = (
        seconds(&d1, "actualizado_en"),
        seconds(&d2, "actualizado_en"),
    );
    let (p2, s2) = (decimals(&d2, "precio_unitario"), decimals(&d2, "descuento"));
    let changed = key(&d2);
    assert!(changed.contains(&planted::LINE_UPDATED));
    assert!(changed.len() > 1);
    for (j, k) in changed.iter().enumerate() {
        let i = at[k];
        assert!(t2[j] > t1[i] && q2[j] != q1[i] && q2[j] > 0);
        assert!((0..=i128::from(q2[j]) * p2[j]).contains(&s2[j]));
    }

    for (table, column) in [
        ("tiendas", "nombre"),
        ("productos", "costo_unitario"),
        ("clientes", "segmento"),
    ] {
        let (a, b) = (read(dir.path(), e1, table), read(dir.path(), e2, table));
        assert!(b.num_rows() >= 1, "{table}");
        let source = crate::project::builtin::source(table).unwrap();
        let key = source.primary_key()[0].as_str();
        let ids = |batch: &RecordBatch| -> Vec<i64> {
            match table {
                "clientes" => i64s(batch, key).into_iter().flatten().collect(),
                _ => i32s(batch, key).into_iter().map(i64::from).collect(),
            }
        };
        let first: HashMap<i64, usize> = ids(&a)
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        let (ta, tb) = (seconds(&a, "actualizado_en"), seconds(&b, "actualizado_en"));
        for (j, id) in ids(&b).into_iter().enumerate() {
            let i = first[&id];
            assert!(tb[j] > ta[i], "{table} {id}");
            let (old, new) = (
                a.column_by_name(column).unwrap().slice(i, 1),
                b.column_by_name(column).unwrap().slice(j, 1),
            );
            assert_ne!(old.to_data(), new.to_data(), "{table} {id}");
        }
    }
    let productos = read(dir.path(), e2, "productos");
    let ids = i32s(&productos, "id_producto");
    let at = ids
        .iter()
        .position(|&id| id == planted::PRODUCT_NEW_COST)
        .unwrap();
    assert_eq!(decimals(&productos, "costo_unitario")[at], 130_725);
    assert!(
        !ids.contains(&planted::PRODUCT_ROUNDING_A) && !ids.contains(&planted::PRODUCT_ROUNDING_B)
    );
    let tiendas = read(dir.path(), e2, "tiendas");
    assert_eq!(
        texts(&tiendas, "nombre")[0].as_deref(),
        Some("DMC Ñaña Renovada")
    );
}
