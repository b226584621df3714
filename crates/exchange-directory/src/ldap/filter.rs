//! LDAP filter values ([RFC 4515](https://www.rfc-editor.org/rfc/rfc4515#section-3)): the
//! user's text goes into a template only escaped, so it is always one assertion value and
//! never filter syntax.

use ldap3::ldap_escape;

use crate::QUERY_KEY;

/// `template` with every `{key}` replaced by `value` as an assertion value: `*`, `(`, `)`,
/// `\` and NUL written `\2a`, `\28`, `\29`, `\5c`, `\00` (RFC 4515 section 3, by
/// [`ldap_escape`]); every other character, UTF-8 included, as it is.
pub(crate) fn render(template: &str, value: &str) -> String {
    template.replace(QUERY_KEY, &ldap_escape(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_QUERY_TEMPLATE;

    #[test]
    fn filter_syntax_is_escaped_per_rfc_4515() {
        let value = |text| render("{key}", text);
        assert_eq!(value("Mara"), "Mara");
        assert_eq!(value("*)(objectClass=*"), "\\2a\\29\\28objectClass=\\2a");
        assert_eq!(value("a\\b\0c"), "a\\5cb\\00c");
        assert_eq!(value("Zoë (Ops)"), "Zoë \\28Ops\\29");
    }

    #[test]
    fn an_injection_stays_one_value_of_the_template() {
        let template = "(&(objectClass=user)(mail={key}))";
        let rendered = render(template, "*)(objectClass=*");
        assert_eq!(
            rendered,
            "(&(objectClass=user)(mail=\\2a\\29\\28objectClass=\\2a))"
        );
        // Still one filter with the template's shape: an AND of two equality assertions.
        let tag = ldap3::parse_filter(&rendered).expect("a filter");
        let unescaped = template.replace("{key}", "*)(objectClass=*");
        let naive = ldap3::parse_filter(&unescaped).expect("the naive one parses too");
        assert_ne!(
            tag, naive,
            "unescaped, the text would have become filter syntax"
        );
    }

    #[test]
    fn every_key_of_the_default_template_is_replaced() {
        let rendered = render(DEFAULT_QUERY_TEMPLATE, "ma(");
        assert!(!rendered.contains(QUERY_KEY));
        assert_eq!(rendered.matches("*ma\\28*").count(), 6);
        assert!(ldap3::parse_filter(&rendered).is_ok(), "{rendered}");
    }
}
