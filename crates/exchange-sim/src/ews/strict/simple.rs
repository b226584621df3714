//! Simple types: the XML Schema built-ins the EWS schema uses, checked lexically, and the
//! facets of its restrictions. Failure texts are the ones .NET's schema validator (which
//! Exchange runs) puts after "is invalid according to its datatype ... - ".
//! Built-in datatypes: <https://www.w3.org/TR/xmlschema-2/#built-in-datatypes>.

use regex::Regex;
use roxmltree::Node;

use super::schema::{Schema, TypeId, TypeKind, Variety};

/// The built-in datatypes the simulator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    AnySimpleType,
    String,
    NormalizedString,
    Token,
    Language,
    AnyUri,
    Boolean,
    Int,
    Long,
    Short,
    Byte,
    UnsignedInt,
    UnsignedShort,
    UnsignedLong,
    UnsignedByte,
    Integer,
    NonNegativeInteger,
    PositiveInteger,
    Decimal,
    Double,
    Float,
    DateTime,
    Date,
    Time,
    Duration,
    Base64Binary,
    HexBinary,
    Name,
    NcName,
    QName,
    Id,
}

impl Builtin {
    pub(crate) const ALL: &'static [Self] = &[
        Self::AnySimpleType,
        Self::String,
        Self::NormalizedString,
        Self::Token,
        Self::Language,
        Self::AnyUri,
        Self::Boolean,
        Self::Int,
        Self::Long,
        Self::Short,
        Self::Byte,
        Self::UnsignedInt,
        Self::UnsignedShort,
        Self::UnsignedLong,
        Self::UnsignedByte,
        Self::Integer,
        Self::NonNegativeInteger,
        Self::PositiveInteger,
        Self::Decimal,
        Self::Double,
        Self::Float,
        Self::DateTime,
        Self::Date,
        Self::Time,
        Self::Duration,
        Self::Base64Binary,
        Self::HexBinary,
        Self::Name,
        Self::NcName,
        Self::QName,
        Self::Id,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::AnySimpleType => "anySimpleType",
            Self::String => "string",
            Self::NormalizedString => "normalizedString",
            Self::Token => "token",
            Self::Language => "language",
            Self::AnyUri => "anyURI",
            Self::Boolean => "boolean",
            Self::Int => "int",
            Self::Long => "long",
            Self::Short => "short",
            Self::Byte => "byte",
            Self::UnsignedInt => "unsignedInt",
            Self::UnsignedShort => "unsignedShort",
            Self::UnsignedLong => "unsignedLong",
            Self::UnsignedByte => "unsignedByte",
            Self::Integer => "integer",
            Self::NonNegativeInteger => "nonNegativeInteger",
            Self::PositiveInteger => "positiveInteger",
            Self::Decimal => "decimal",
            Self::Double => "double",
            Self::Float => "float",
            Self::DateTime => "dateTime",
            Self::Date => "date",
            Self::Time => "time",
            Self::Duration => "duration",
            Self::Base64Binary => "base64Binary",
            Self::HexBinary => "hexBinary",
            Self::Name => "Name",
            Self::NcName => "NCName",
            Self::QName => "QName",
            Self::Id => "ID",
        }
    }

    /// `string` and `anySimpleType` keep white space as sent; every other type collapses it.
    fn preserves_space(self) -> bool {
        matches!(self, Self::String | Self::AnySimpleType)
    }

    /// Checks the (white-space-normalized) lexical form.
    fn check(self, v: &str) -> Result<(), String> {
        let ok = match self {
            Self::AnySimpleType | Self::String | Self::NormalizedString | Self::Token => true,
            Self::AnyUri => !v.contains(['<', '>', '"', '{', '}', '|', '\\', '^', '`']),
            Self::Language => language(v),
            Self::Boolean => matches!(v, "true" | "false" | "1" | "0"),
            Self::Int => ranged(v, i32::MIN.into(), i32::MAX.into()),
            Self::Long => ranged(v, i64::MIN.into(), i64::MAX.into()),
            Self::Short => ranged(v, i16::MIN.into(), i16::MAX.into()),
            Self::Byte => ranged(v, i8::MIN.into(), i8::MAX.into()),
            Self::UnsignedInt => ranged(v, 0, u32::MAX.into()),
            Self::UnsignedShort => ranged(v, 0, u16::MAX.into()),
            Self::UnsignedLong => ranged(v, 0, u64::MAX.into()),
            Self::UnsignedByte => ranged(v, 0, u8::MAX.into()),
            Self::Integer => integer(v).is_some() || big_integer(v),
            Self::NonNegativeInteger => {
                integer(v).is_some_and(|n| n >= 0) || (big_integer(v) && !v.starts_with('-'))
            }
            Self::PositiveInteger => {
                integer(v).is_some_and(|n| n > 0) || (big_integer(v) && !v.starts_with('-'))
            }
            Self::Decimal => decimal(v),
            Self::Double | Self::Float => {
                matches!(v, "INF" | "-INF" | "NaN")
                    || (!v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                        && v.parse::<f64>().is_ok())
            }
            Self::DateTime => v.split_once('T').is_some_and(|(d, t)| date(d) && time(t)),
            Self::Date => {
                let (d, tz) = split_zone(v);
                date(d) && zone(tz)
            }
            Self::Time => time(v),
            Self::Duration => duration(v),
            Self::Base64Binary => base64(v),
            Self::HexBinary => {
                v.len().is_multiple_of(2) && v.bytes().all(|b| b.is_ascii_hexdigit())
            }
            Self::Name | Self::NcName | Self::Id | Self::QName => name(v, self == Self::QName),
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                Self::Base64Binary => {
                    "Invalid length for a Base-64 char array or string.".to_owned()
                }
                _ => format!("The string '{v}' is not a valid {} value.", self.clr()),
            })
        }
    }

    /// The .NET type name in lexical-failure texts.
    fn clr(self) -> &'static str {
        match self {
            Self::Boolean => "Boolean",
            Self::Int => "Int32",
            Self::Long => "Int64",
            Self::Short => "Int16",
            Self::Byte => "SByte",
            Self::UnsignedInt => "UInt32",
            Self::UnsignedShort => "UInt16",
            Self::UnsignedLong => "UInt64",
            Self::UnsignedByte => "Byte",
            Self::Integer | Self::NonNegativeInteger | Self::PositiveInteger | Self::Decimal => {
                "Decimal"
            }
            Self::Double => "Double",
            Self::Float => "Single",
            Self::DateTime | Self::Date | Self::Time => "DateTime",
            Self::Duration => "TimeSpan",
            Self::AnyUri => "Uri",
            _ => "String",
        }
    }
}

/// The constraining facets of a restriction.
#[derive(Debug, Default)]
pub(crate) struct Facets {
    enumeration: Option<Vec<String>>,
    patterns: Vec<Regex>,
    length: Option<usize>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_inclusive: Option<f64>,
    max_inclusive: Option<f64>,
}

impl Facets {
    pub(crate) fn read(node: Node<'_, '_>) -> Result<Self, String> {
        let mut f = Self::default();
        for child in node.children().filter(Node::is_element) {
            let value = child.attribute("value").unwrap_or("");
            let number = || {
                value
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("facet value {value:?}"))
            };
            let size = || {
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("facet value {value:?}"))
            };
            match child.tag_name().name() {
                "enumeration" => f
                    .enumeration
                    .get_or_insert_with(Vec::new)
                    .push(value.to_owned()),
                // XSD patterns match the whole value.
                "pattern" => f.patterns.push(
                    Regex::new(&format!("^(?:{value})$"))
                        .map_err(|e| format!("pattern {value:?}: {e}"))?,
                ),
                "length" => f.length = Some(size()?),
                "minLength" => f.min_length = Some(size()?),
                "maxLength" => f.max_length = Some(size()?),
                "minInclusive" => f.min_inclusive = Some(number()?),
                "maxInclusive" => f.max_inclusive = Some(number()?),
                "annotation" | "simpleType" => {}
                other => return Err(format!("facet xs:{other} is not supported")),
            }
        }
        Ok(f)
    }

    fn check(&self, v: &str) -> Result<(), &'static str> {
        if let Some(values) = &self.enumeration
            && !values.iter().any(|e| e == v)
        {
            return Err("The Enumeration constraint failed.");
        }
        if self.patterns.iter().any(|p| !p.is_match(v)) {
            return Err("The Pattern constraint failed.");
        }
        let len = v.chars().count();
        if self.length.is_some_and(|l| len != l) {
            return Err("The actual length is not equal to the specified length.");
        }
        if self.min_length.is_some_and(|l| len < l) {
            return Err("The actual length is less than the MinLength value.");
        }
        if self.max_length.is_some_and(|l| len > l) {
            return Err("The actual length is greater than the MaxLength value.");
        }
        let n = v.parse::<f64>().ok();
        if let (Some(min), Some(n)) = (self.min_inclusive, n)
            && n < min
        {
            return Err("The MinInclusive constraint failed.");
        }
        if let (Some(max), Some(n)) = (self.max_inclusive, n)
            && n > max
        {
            return Err("The MaxInclusive constraint failed.");
        }
        Ok(())
    }
}

/// Checks `value` against simple type `ty`; the failure text as .NET words it.
pub(crate) fn check(schema: &Schema, ty: TypeId, value: &str) -> Result<(), String> {
    check_depth(schema, ty, value, 0)
}

fn check_depth(schema: &Schema, ty: TypeId, value: &str, depth: u32) -> Result<(), String> {
    if depth > 32 {
        return Err("The type derivation is too deep.".to_owned());
    }
    let TypeKind::Simple(st) = &schema.types[ty].kind else {
        return Ok(());
    };
    match &st.variety {
        Variety::Builtin(b) => b.check(&normalize(schema, ty, value)),
        Variety::Restriction(base) => {
            check_depth(schema, *base, value, depth + 1)?;
            st.facets
                .check(&normalize(schema, ty, value))
                .map_err(str::to_owned)
        }
        Variety::List(item) => value
            .split_whitespace()
            .try_for_each(|v| check_depth(schema, *item, v, depth + 1)),
        Variety::Union(members) => {
            if members
                .iter()
                .any(|m| check_depth(schema, *m, value, depth + 1).is_ok())
            {
                Ok(())
            } else {
                Err(format!(
                    "The value '{value}' is not valid according to any of the memberTypes of the union."
                ))
            }
        }
    }
}

/// The value after the type's white-space rule (`preserve` for strings, `collapse` otherwise).
fn normalize<'v>(schema: &Schema, ty: TypeId, value: &'v str) -> std::borrow::Cow<'v, str> {
    if primitive(schema, ty).is_none_or(Builtin::preserves_space) {
        std::borrow::Cow::Borrowed(value)
    } else {
        std::borrow::Cow::Owned(value.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

fn primitive(schema: &Schema, mut ty: TypeId) -> Option<Builtin> {
    for _ in 0..32 {
        match &schema.types[ty].kind {
            TypeKind::Simple(st) => match st.variety {
                Variety::Builtin(b) => return Some(b),
                Variety::Restriction(base) => ty = base,
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

fn integer(v: &str) -> Option<i128> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn big_integer(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn ranged(v: &str, min: i128, max: i128) -> bool {
    integer(v).is_some_and(|n| (min..=max).contains(&n))
}

fn decimal(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && frac.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` (a leading `-` or more year digits allowed).
fn date(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    y.len() >= 4
        && y.bytes().all(|b| b.is_ascii_digit())
        && digits(m, 2).is_some_and(|m| (1..=12).contains(&m))
        && digits(d, 2).is_some_and(|d| (1..=31).contains(&d))
}

/// Splits a trailing time zone (`Z`, `+hh:mm`, `-hh:mm`) off a date or time.
fn split_zone(s: &str) -> (&str, &str) {
    if let Some(rest) = s.strip_suffix('Z') {
        return (rest, "Z");
    }
    // Only ASCII can form a zone; the split must not cut a character from the network.
    if s.len() > 6 && s.is_char_boundary(s.len() - 6) {
        let (head, tail) = s.split_at(s.len() - 6);
        if tail.is_ascii() && tail.starts_with(['+', '-']) && tail.as_bytes()[3] == b':' {
            return (head, tail);
        }
    }
    (s, "")
}

fn zone(tz: &str) -> bool {
    match tz {
        "" | "Z" => true,
        _ => {
            digits(&tz[1..3], 2).is_some_and(|h| h <= 14)
                && digits(&tz[4..6], 2).is_some_and(|m| m <= 59)
        }
    }
}

/// `hh:mm:ss(.s+)?` with an optional zone.
fn time(s: &str) -> bool {
    let (t, tz) = split_zone(s);
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let mut parts = hms.splitn(3, ':');
    let (Some(h), Some(m), Some(sec)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    digits(h, 2).is_some_and(|h| h <= 24)
        && digits(m, 2).is_some_and(|m| m <= 59)
        && digits(sec, 2).is_some_and(|s| s <= 60)
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
        && zone(tz)
}

/// `-?PnYnMnDTnHnMnS`, at least one component, `T` only before a time component.
fn duration(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return false,
        None => (rest, None),
    };
    let mut any = false;
    let mut ok = components(date_part, "YMD", false, &mut any);
    if let Some(t) = time_part {
        ok &= components(t, "HMS", true, &mut any);
    }
    ok && any
}

fn components(mut s: &str, designators: &str, seconds_fraction: bool, any: &mut bool) -> bool {
    let mut allowed = designators;
    while !s.is_empty() {
        let Some(i) = s.find(|c: char| !c.is_ascii_digit() && c != '.') else {
            return false;
        };
        let (number, rest) = s.split_at(i);
        let Some(designator) = rest.chars().next() else {
            return false;
        };
        let Some(at) = allowed.find(designator) else {
            return false;
        };
        let fraction_ok = !number.contains('.') || (seconds_fraction && designator == 'S');
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') || !fraction_ok {
            return false;
        }
        allowed = &allowed[at + 1..];
        s = &rest[1..];
        *any = true;
    }
    true
}

fn base64(v: &str) -> bool {
    let chars: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !chars.len().is_multiple_of(4) {
        return false;
    }
    let padding = chars.iter().rev().take_while(|&&b| b == b'=').count();
    padding <= 2
        && chars[..chars.len() - padding]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// RFC 3066 as XSD's `language` pattern: `[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*`.
fn language(v: &str) -> bool {
    let mut parts = v.split('-');
    let first = parts.next().unwrap_or("");
    (1..=8).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn name(v: &str, qualified: bool) -> bool {
    let parts: Vec<&str> = if qualified {
        v.splitn(2, ':').collect()
    } else {
        vec![v]
    };
    parts.iter().all(|p| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || (!qualified && c == ':'))
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{b7}'))
    })
}

#[cfg(test)]
mod tests {
    use super::Builtin;

    #[test]
    fn built_ins_check_their_lexical_forms() {
        assert!(Builtin::Int.check("-2147483648").is_ok());
        assert!(Builtin::Int.check("2147483648").is_err());
        assert!(Builtin::UnsignedInt.check("-1").is_err());
        assert!(Builtin::Boolean.check("true").is_ok());
        assert_eq!(
            Builtin::Boolean.check("yes"),
            Err("The string 'yes' is not a valid Boolean value.".to_owned())
        );
        assert!(Builtin::DateTime.check("2024-03-01T10:00:00.123Z").is_ok());
        assert!(Builtin::DateTime.check("2024-03-01T10:00:00+01:00").is_ok());
        assert!(Builtin::DateTime.check("2024-13-01T10:00:00Z").is_err());
        assert!(Builtin::Date.check("2024-03-01").is_ok());
        assert!(Builtin::Duration.check("PT30M").is_ok());
        assert!(Builtin::Duration.check("-P1DT2H3.5S").is_ok());
        assert!(Builtin::Duration.check("P").is_err());
        assert!(Builtin::Duration.check("PT").is_err());
        assert!(Builtin::Duration.check("P1H").is_err());
        assert!(Builtin::Base64Binary.check("AAAAAMAGAAAAAAAAAQ==").is_ok());
        assert!(Builtin::Base64Binary.check("AAA").is_err());
        assert!(Builtin::Language.check("en-US").is_ok());
        assert!(Builtin::Language.check("").is_err());
        assert!(Builtin::Double.check("1.5e3").is_ok());
        assert!(Builtin::Double.check("abc").is_err());
        assert!(Builtin::NonNegativeInteger.check("0").is_ok());
        assert!(Builtin::NonNegativeInteger.check("-1").is_err());
    }

    /// Multi-byte characters at every offset where a zone, a designator or a digit is looked
    /// for: a value from the network never panics the checks.
    #[test]
    fn values_from_the_network_never_panic() {
        for pad in 0..8 {
            let tail = "0".repeat(pad);
            for value in [
                format!("2024-01-01T10:00:00\u{e9}{tail}"),
                format!("2024-01-01T10:00:00+\u{e9}{tail}"),
                format!("10:00\u{e9}{tail}"),
                format!("P1\u{e9}{tail}"),
                format!("PT1\u{1F600}{tail}S"),
                format!("\u{1F600}{tail}"),
            ] {
                for builtin in Builtin::ALL {
                    let _ = builtin.check(&value);
                }
            }
        }
        assert!(
            Builtin::DateTime
                .check("2024-01-01T10:00:00\u{e9}00000")
                .is_err()
        );
    }
}
