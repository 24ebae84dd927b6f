use super::*;

#[test]
fn scale_is_range_checked() {
    assert!(parse_scale("0").is_err());
    assert!(parse_scale("abc").is_err());
    assert_eq!(parse_scale("0.5").unwrap(), 0.5);
}
