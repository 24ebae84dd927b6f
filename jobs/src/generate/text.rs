//! Text for the generated rows: Peruvian place, product and person names
//! (with accents and `ñ`, which must survive the pipeline untouched), and the
//! "dirt" the legacy forms let through: surrounding spaces and odd case.

use std::borrow::Cow;

use rand::Rng;

/// Share of code and enumeration values that arrive with spaces or odd case.
pub(super) const CODE_DIRT: f64 = 0.05;
/// Share of other text values that arrive with surrounding spaces.
pub(super) const NAME_DIRT: f64 = 0.05;

/// A city, its sales region and the prefix of its store codes.
#[derive(Debug, Clone, Copy)]
pub(super) struct City {
    pub name: &'static str,
    pub region: &'static str,
    pub code: &'static str,
}

const fn city(name: &'static str, region: &'static str, code: &'static str) -> City {
    City { name, region, code }
}

/// Lima first: half of the stores and of the customers live there.
pub(super) const LIMA: City = city("Lima", "LIMA", "LIM");
const PROVINCES: [City; 15] = [
    city("Callao", "LIMA", "CAL"),
    city("Arequipa", "SUR", "ARE"),
    city("Cusco", "SUR", "CUS"),
    city("Tacna", "SUR", "TAC"),
    city("Puno", "SUR", "PUN"),
    city("Trujillo", "NORTE", "TRU"),
    city("Chiclayo", "NORTE", "CIX"),
    city("Piura", "NORTE", "PIU"),
    city("Cajamarca", "NORTE", "CAJ"),
    city("Huancayo", "CENTRO", "HYO"),
    city("Huánuco", "CENTRO", "HUA"),
    city("Ica", "CENTRO", "ICA"),
    city("Iquitos", "ORIENTE", "IQT"),
    city("Pucallpa", "ORIENTE", "PUC"),
    city("Tarapoto", "ORIENTE", "TPP"),
];

const LIMA_DISTRICTS: [&str; 14] = [
    "Ñaña",
    "Miraflores",
    "San Isidro",
    "Surco",
    "La Molina",
    "San Martín de Porres",
    "José Gálvez",
    "Jesús María",
    "Breña",
    "Chorrillos",
    "Los Olivos",
    "San Juan de Lurigancho",
    "Villa El Salvador",
    "Peña Alta",
];

const STORE_SUFFIXES: [&str; 5] = ["Centro", "Plaza", "Norte", "Sur", "Estación"];

/// A city: Lima half of the time, a province otherwise.
pub(super) fn city_of<R: Rng>(rng: &mut R) -> City {
    if rng.random_bool(0.5) {
        LIMA
    } else {
        *pick(rng, &PROVINCES)
    }
}

/// A store name in `city`.
pub(super) fn store_name<R: Rng>(rng: &mut R, city: City) -> String {
    if city.code == LIMA.code {
        format!("DMC {}", pick(rng, &LIMA_DISTRICTS))
    } else {
        format!("DMC {} {}", city.name, pick(rng, &STORE_SUFFIXES))
    }
}

/// A product category: name, subcategories, base product names and the
/// range of list prices in cents.
pub(super) struct Category {
    pub name: &'static str,
    pub subcategories: &'static [&'static str],
    pub products: &'static [&'static str],
    pub cents: (i64, i64),
}

pub(super) static CATEGORIES: [Category; 10] = [
    Category {
        name: "Abarrotes",
        subcategories: &["Arroz", "Aceites", "Azúcar", "Fideos", "Menestras"],
        products: &[
            "Arroz extra",
            "Aceite vegetal",
            "Azúcar rubia",
            "Fideos spaghetti",
            "Lentejas",
        ],
        cents: (250, 3_500),
    },
    Category {
        name: "Lácteos",
        subcategories: &["Leche", "Yogur", "Quesos", "Mantequilla"],
        products: &[
            "Leche evaporada",
            "Yogur de fresa",
            "Queso fresco",
            "Mantequilla con sal",
        ],
        cents: (300, 2_500),
    },
    Category {
        name: "Bebidas",
        subcategories: &["Gaseosas", "Aguas", "Jugos", "Cervezas"],
        products: &["Gaseosa", "Agua sin gas", "Néctar de durazno", "Cerveza"],
        cents: (150, 3_000),
    },
    Category {
        name: "Limpieza",
        subcategories: &["Detergentes", "Lavavajillas", "Papel"],
        products: &[
            "Detergente en polvo",
            "Lavavajilla líquido",
            "Papel higiénico",
        ],
        cents: (350, 4_500),
    },
    Category {
        name: "Cuidado personal",
        subcategories: &["Champú", "Jabones", "Higiene bucal"],
        products: &["Champú anticaspa", "Jabón de glicerina", "Pasta dental"],
        cents: (250, 3_500),
    },
    Category {
        name: "Panadería",
        subcategories: &["Pan", "Pastelería"],
        products: &["Pan de molde", "Panetón", "Bizcocho"],
        cents: (300, 4_500),
    },
    Category {
        name: "Carnes",
        subcategories: &["Pollo", "Res", "Cerdo"],
        products: &["Pechuga de pollo", "Bistec de res", "Chuleta de cerdo"],
        cents: (900, 6_500),
    },
    Category {
        name: "Frutas y verduras",
        subcategories: &["Frutas", "Verduras"],
        products: &[
            "Plátano de seda",
            "Palta fuerte",
            "Limón",
            "Papa amarilla",
            "Cebolla roja",
        ],
        cents: (150, 1_500),
    },
    Category {
        name: "Electrohogar",
        subcategories: &["Televisores", "Cocina", "Audio"],
        products: &[
            "Televisor LED 50\"",
            "Licuadora",
            "Parlante bluetooth",
            "Olla arrocera",
        ],
        cents: (9_900, 249_900),
    },
    Category {
        name: "Juguetería",
        subcategories: &["Muñecas", "Juegos de mesa"],
        products: &["Muñeca", "Rompecabezas", "Juego de mesa"],
        cents: (1_500, 15_000),
    },
];

pub(super) const BRANDS: [&str; 16] = [
    "Costeño",
    "Gloria",
    "Laive",
    "San Mateo",
    "Bolívar",
    "Señorial",
    "Doña Pepa",
    "Alacena",
    "Don Vittorio",
    "Molitalia",
    "Sapolio",
    "Suave",
    "San Fernando",
    "Cielo",
    "Pilsen",
    "Ñapancha",
];

pub(super) const SIZES: [&str; 8] = [
    "250 g", "500 g", "1 kg", "400 ml", "1 L", "2.5 L", "x6", "unidad",
];

const FIRST_NAMES: [&str; 20] = [
    "José", "María", "Lucía", "Jesús", "Ángel", "Sofía", "Martín", "Raúl", "Inés", "Andrés",
    "Mónica", "Nicolás", "Carmen", "Luis", "Rosa", "Héctor", "Begoña", "Iñigo", "Ana", "Jorge",
];

const SURNAMES: [&str; 20] = [
    "Gálvez",
    "Peña",
    "Núñez",
    "Quispe",
    "Mamani",
    "Huamán",
    "Rodríguez",
    "García",
    "Ibáñez",
    "Chávez",
    "Ramírez",
    "Flores",
    "Muñoz",
    "Yáñez",
    "Cárdenas",
    "Castañeda",
    "Vásquez",
    "Ñahui",
    "Torres",
    "Paredes",
];

const MAIL_DOMAINS: [&str; 4] = ["gmail.com", "hotmail.com", "correo.pe", "yahoo.es"];

/// A person's full name (given name and two surnames) and an e-mail built from it.
pub(super) fn person<R: Rng>(rng: &mut R, id: i64) -> (String, String) {
    let first = pick(rng, &FIRST_NAMES);
    let surname = pick(rng, &SURNAMES);
    let second = pick(rng, &SURNAMES);
    let email = format!(
        "{}.{}{}@{}",
        fold(first),
        fold(surname),
        id % 1000,
        pick(rng, &MAIL_DOMAINS)
    );
    (format!("{first} {surname} {second}"), email)
}

/// Lower-case ASCII for e-mail addresses (mail servers of the time refused
/// accents, so the source never has them there).
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' | 'ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// A uniformly chosen item of a non-empty list.
pub(super) fn pick<'a, T, R: Rng>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// An item chosen with the given integer weights (a non-empty list).
pub(super) fn weighted<T: Copy, R: Rng>(rng: &mut R, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(item, weight) in items {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// A code or enumeration value as the source sends it: usually clean, at
/// [`CODE_DIRT`] with spaces around it and/or in lower or mixed case.
pub(super) fn code<R: Rng>(rng: &mut R, value: &'static str) -> Cow<'static, str> {
    if rng.random_bool(CODE_DIRT) {
        Cow::Owned(smudge_code(rng, value))
    } else {
        Cow::Borrowed(value)
    }
}

/// Like [`code`] for a value built at run time.
pub(super) fn code_owned<R: Rng>(rng: &mut R, value: String) -> String {
    if rng.random_bool(CODE_DIRT) {
        smudge_code(rng, &value)
    } else {
        value
    }
}

/// Always dirty: spaces and/or a case other than upper.
pub(super) fn smudge_code<R: Rng>(rng: &mut R, value: &str) -> String {
    match rng.random_range(0..5) {
        0 => format!(" {}", value.to_lowercase()),
        1 => format!("{} ", title_case(value)),
        2 => value.to_lowercase(),
        3 => format!("  {value} "),
        _ => title_case(value),
    }
}

/// A free-text value as the source sends it: at [`NAME_DIRT`] with spaces around.
pub(super) fn name<R: Rng>(rng: &mut R, value: String) -> String {
    if rng.random_bool(NAME_DIRT) {
        pad(rng, &value)
    } else {
        value
    }
}

/// Like [`name`] for a fixed value.
pub(super) fn name_static<R: Rng>(rng: &mut R, value: &'static str) -> Cow<'static, str> {
    if rng.random_bool(NAME_DIRT) {
        Cow::Owned(pad(rng, value))
    } else {
        Cow::Borrowed(value)
    }
}

fn pad<R: Rng>(rng: &mut R, value: &str) -> String {
    match rng.random_range(0..3) {
        0 => format!(" {value}"),
        1 => format!("{value}  "),
        _ => format!("  {value} "),
    }
}

/// `TARJETA` → `Tarjeta`, `LIM-001` → `Lim-001`.
fn title_case(value: &str) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn dirt_normalises_back_to_the_clean_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..100 {
            let dirty = smudge_code(&mut rng, "TARJETA");
            assert_ne!(dirty, "TARJETA");
            assert_eq!(dirty.trim().to_uppercase(), "TARJETA");
        }
        assert_eq!(title_case("LIM-001"), "Lim-001");
        assert_eq!(fold("Ñahui Gálvez"), "nahui galvez");
    }
}
