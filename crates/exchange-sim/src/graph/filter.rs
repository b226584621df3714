//! `$filter` on users, as Graph takes it without advanced query capabilities
//! (<https://learn.microsoft.com/graph/filter-query-parameter>,
//! <https://learn.microsoft.com/graph/aad-advanced-queries>):
//!
//! - `startswith(property,'text')` and `property eq 'text'` (or `eq null`), joined by `and` /
//!   `or`, grouped with parentheses;
//! - string literals in single quotes, a quote inside written twice (`'O''Brien'`);
//! - property names, function names and keywords compared without regard to case, and values
//!   matched without regard to case, as the directory does.
//!
//! What Graph only allows with `ConsistencyLevel: eventual` (`ne`, `not`, `endswith`, `in`,
//! ...) or not on users at all is refused with `Request_UnsupportedQuery`, a malformed
//! expression with `BadRequest`; each message names what was wrong. The parser never panics:
//! nesting is bounded and every token is checked.

use std::fmt;

use super::errors::GraphError;

/// The deepest parenthesis nesting taken.
const MAX_DEPTH: usize = 32;

/// A user property a filter can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Property {
    /// `id`.
    Id,
    /// `displayName`.
    DisplayName,
    /// `givenName`.
    GivenName,
    /// `surname`.
    Surname,
    /// `mail`.
    Mail,
    /// `userPrincipalName`.
    UserPrincipalName,
    /// `jobTitle`.
    JobTitle,
    /// `mailNickname`.
    MailNickname,
    /// `department` (filterable only with advanced queries).
    Department,
}

impl Property {
    /// Every property, in the order of [`Property::name`].
    pub(crate) const ALL: [Self; 9] = [
        Self::Id,
        Self::DisplayName,
        Self::GivenName,
        Self::Surname,
        Self::Mail,
        Self::UserPrincipalName,
        Self::JobTitle,
        Self::MailNickname,
        Self::Department,
    ];

    /// Graph's name of the property.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::DisplayName => "displayName",
            Self::GivenName => "givenName",
            Self::Surname => "surname",
            Self::Mail => "mail",
            Self::UserPrincipalName => "userPrincipalName",
            Self::JobTitle => "jobTitle",
            Self::MailNickname => "mailNickname",
            Self::Department => "department",
        }
    }

    /// The property a name names, compared without regard to case.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether `startswith` on it works without advanced queries.
    fn takes_startswith(self) -> bool {
        !matches!(self, Self::Id | Self::Department)
    }

    /// Whether `eq` on it works without advanced queries.
    fn takes_eq(self) -> bool {
        !matches!(self, Self::Department)
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Both hold.
    And(Box<Self>, Box<Self>),
    /// Either holds.
    Or(Box<Self>, Box<Self>),
    /// The property starts with the text.
    StartsWith(Property, String),
    /// The property equals the text; `None`: the property has no value.
    Eq(Property, Option<String>),
}

impl Filter {
    /// Whether a user matches; `value` gives a property's value (`None` when unset).
    pub(crate) fn matches(&self, value: &dyn Fn(Property) -> Option<String>) -> bool {
        match self {
            Self::And(a, b) => a.matches(value) && b.matches(value),
            Self::Or(a, b) => a.matches(value) || b.matches(value),
            Self::StartsWith(property, text) => {
                value(*property).is_some_and(|v| v.to_lowercase().starts_with(&text.to_lowercase()))
            }
            Self::Eq(property, None) => value(*property).is_none(),
            Self::Eq(property, Some(text)) => {
                value(*property).is_some_and(|v| v.to_lowercase() == text.to_lowercase())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Comma,
    /// A string literal, unescaped.
    Text(String),
    /// A name, keyword or other bare word (`startswith`, `eq`, `null`, `42`).
    Word(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("("),
            Self::Close => f.write_str(")"),
            Self::Comma => f.write_str(","),
            Self::Text(text) => write!(f, "'{}'", text.replace('\'', "''")),
            Self::Word(word) => f.write_str(word),
        }
    }
}

fn syntax(filter: &str, reason: impl fmt::Display) -> GraphError {
    GraphError::bad_request(
        "BadRequest",
        format!("Invalid filter clause: {reason} in '{filter}'."),
    )
}

fn unsupported(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("Request_UnsupportedQuery", message)
}

fn unsupported_on(property: Property) -> GraphError {
    unsupported(format!(
        "Unsupported or invalid query filter clause specified for property '{}' of resource \
         'User'.",
        property.name()
    ))
}

fn advanced(what: &str) -> GraphError {
    unsupported(format!(
        "Unsupported query: '{what}' on users needs advanced query capabilities \
         (ConsistencyLevel: eventual and $count=true), which the simulator does not offer."
    ))
}

/// Splits a filter into tokens, with each token's byte position.
fn tokens(filter: &str) -> Result<Vec<(usize, Token)>, GraphError> {
    let mut out = Vec::new();
    let mut chars = filter.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push((at, Token::Open)),
            ')' => out.push((at, Token::Close)),
            ',' => out.push((at, Token::Comma)),
            '\'' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) => {
                            if chars.next_if(|(_, c)| *c == '\'').is_some() {
                                text.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some((_, c)) => text.push(c),
                        None => {
                            return Err(syntax(
                                filter,
                                format_args!(
                                    "there is an unterminated string literal at position {at}"
                                ),
                            ));
                        }
                    }
                }
                out.push((at, Token::Text(text)));
            }
            c if is_word(c) => {
                let mut word = String::from(c);
                while let Some((_, c)) = chars.next_if(|(_, c)| is_word(*c)) {
                    word.push(c);
                }
                out.push((at, Token::Word(word)));
            }
            other => {
                return Err(syntax(
                    filter,
                    format_args!("syntax error: character '{other}' is not valid at position {at}"),
                ));
            }
        }
    }
    Ok(out)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ':' | '+')
}

/// Parses a `$filter` on users.
pub(crate) fn parse(filter: &str) -> Result<Filter, GraphError> {
    let tokens = tokens(filter)?;
    if tokens.is_empty() {
        return Err(syntax(filter, "the expression is empty"));
    }
    let mut parser = Parser {
        filter,
        tokens: &tokens,
        next: 0,
    };
    let parsed = parser.or(0)?;
    match parser.peek() {
        None => Ok(parsed),
        Some((at, token)) => Err(syntax(
            filter,
            format_args!("syntax error: '{token}' at position {at} is not expected"),
        )),
    }
}

struct Parser<'a> {
    filter: &'a str,
    tokens: &'a [(usize, Token)],
    next: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&(usize, Token)> {
        self.tokens.get(self.next)
    }

    fn take(&mut self) -> Option<&(usize, Token)> {
        let token = self.tokens.get(self.next);
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    fn keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some((_, Token::Word(w))) if w.eq_ignore_ascii_case(keyword))
    }

    fn error(&self, reason: impl fmt::Display) -> GraphError {
        syntax(self.filter, reason)
    }

    /// What comes next, for messages.
    fn found(&self) -> String {
        match self.peek() {
            Some((at, token)) => format!("'{token}' at position {at}"),
            None => "the end of the expression".to_owned(),
        }
    }

    fn expect(&mut self, wanted: &Token, what: &str) -> Result<(), GraphError> {
        if self.peek().is_some_and(|(_, t)| t == wanted) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.error(format_args!(
                "syntax error: {what} expected, found {}",
                self.found()
            )))
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, GraphError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.next += 1;
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, GraphError> {
        let mut left = self.primary(depth)?;
        while self.keyword("and") {
            self.next += 1;
            let right = self.primary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self, depth: usize) -> Result<Filter, GraphError> {
        let found = self.found();
        let Some((_, token)) = self.take() else {
            return Err(self.error("syntax error: an expression expected, found its end"));
        };
        let word = match token {
            Token::Open => {
                if depth >= MAX_DEPTH {
                    return Err(self.error(format_args!(
                        "the expression nests more than {MAX_DEPTH} parentheses"
                    )));
                }
                let inner = self.or(depth + 1)?;
                self.expect(&Token::Close, "')'")?;
                return Ok(inner);
            }
            Token::Word(word) => word.clone(),
            _ => {
                return Err(self.error(format_args!(
                    "syntax error: a property or function expected, found {found}"
                )));
            }
        };
        if word.eq_ignore_ascii_case("not") {
            return Err(advanced("not"));
        }
        if self.peek().is_some_and(|(_, t)| *t == Token::Open) {
            self.next += 1;
            return self.function(&word);
        }
        self.comparison(&word)
    }

    /// `name(property,'text')`, after the `(`.
    fn function(&mut self, name: &str) -> Result<Filter, GraphError> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "startswith" => {}
            "endswith" | "contains" => return Err(advanced(name)),
            _ => {
                return Err(self.error(format_args!(
                    "an unknown function with name '{name}' was found"
                )));
            }
        }
        let property = match self.take() {
            Some((_, Token::Word(word))) => property(word)?,
            _ => {
                return Err(self.error(format_args!(
                    "syntax error: startswith needs a property name first"
                )));
            }
        };
        self.expect(&Token::Comma, "','")?;
        let text = match self.take() {
            Some((_, Token::Text(text))) => text.clone(),
            _ => {
                return Err(
                    self.error("syntax error: startswith needs a string literal ('text') second")
                );
            }
        };
        self.expect(&Token::Close, "')'")?;
        if !property.takes_startswith() {
            return Err(unsupported_on(property));
        }
        Ok(Filter::StartsWith(property, text))
    }

    /// `property op value`, after the property.
    fn comparison(&mut self, name: &str) -> Result<Filter, GraphError> {
        let property = property(name)?;
        let operator = match self.take() {
            Some((_, Token::Word(op))) => op.to_ascii_lowercase(),
            _ => {
                return Err(self.error(format_args!(
                    "syntax error: an operator expected after '{name}'"
                )));
            }
        };
        match operator.as_str() {
            "eq" => {}
            "ne" | "gt" | "ge" | "lt" | "le" | "in" | "has" => return Err(advanced(&operator)),
            other => {
                return Err(self.error(format_args!("syntax error: '{other}' is no operator")));
            }
        }
        let value = match self.take() {
            Some((_, Token::Text(text))) => Some(text.clone()),
            Some((_, Token::Word(word))) if word.eq_ignore_ascii_case("null") => None,
            Some((_, Token::Word(word))) => {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!(
                        "Invalid filter clause: a binary operator with incompatible types was \
                         detected: '{}' is a string, '{word}' is not.",
                        property.name()
                    ),
                ));
            }
            _ => {
                return Err(self.error("syntax error: a value expected after 'eq'"));
            }
        };
        if !property.takes_eq() {
            return Err(unsupported_on(property));
        }
        Ok(Filter::Eq(property, value))
    }
}

fn property(name: &str) -> Result<Property, GraphError> {
    Property::from_name(name).ok_or_else(|| {
        GraphError::bad_request(
            "BadRequest",
            format!("Could not find a property named '{name}' on type 'microsoft.graph.user'."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(property: Property) -> Option<String> {
        match property {
            Property::DisplayName => Some("Mara Whitley".into()),
            Property::GivenName => Some("Mara".into()),
            Property::Surname => Some("Whitley".into()),
            Property::Mail | Property::UserPrincipalName => Some("mara@contoso.com".into()),
            Property::MailNickname => Some("mara".into()),
            Property::JobTitle => Some("Engineer".into()),
            Property::Id | Property::Department => None,
        }
    }

    fn matches(filter: &str) -> bool {
        parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"))
            .matches(&user)
    }

    fn code(filter: &str) -> &'static str {
        match parse(filter) {
            Ok(parsed) => panic!("{filter} parsed: {parsed:?}"),
            Err(error) => error.code,
        }
    }

    #[test]
    fn startswith_and_eq_match_without_regard_to_case() {
        assert!(matches("startswith(displayName,'mara w')"));
        assert!(matches("startsWith(GIVENNAME, 'MA')"));
        assert!(matches("surname eq 'whitley'"));
        assert!(matches("Mail EQ 'Mara@Contoso.com'"));
        assert!(!matches("startswith(surname,'Daniels')"));
        assert!(!matches("jobTitle eq 'Engine'"));
        assert!(matches("id eq null"));
        assert!(!matches("mail eq null"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        assert_eq!(
            parse("startswith(mail,'a') or startswith(mail,'m') and surname eq 'x'"),
            Ok(Filter::Or(
                Box::new(Filter::StartsWith(Property::Mail, "a".into())),
                Box::new(Filter::And(
                    Box::new(Filter::StartsWith(Property::Mail, "m".into())),
                    Box::new(Filter::Eq(Property::Surname, Some("x".into()))),
                )),
            ))
        );
        assert!(!matches(
            "(startswith(mail,'a') or startswith(mail,'m')) and surname eq 'x'"
        ));
        assert!(matches(
            "startswith(mail,'m') and (surname eq 'x' or givenName eq 'mara')"
        ));
    }

    #[test]
    fn doubled_quotes_are_one_quote_of_the_text() {
        assert_eq!(
            parse("surname eq 'O''Brien'"),
            Ok(Filter::Eq(Property::Surname, Some("O'Brien".into())))
        );
        assert_eq!(
            parse("surname eq ''''"),
            Ok(Filter::Eq(Property::Surname, Some("'".into())))
        );
    }

    #[test]
    fn injection_inside_a_literal_stays_text() {
        // What a client sends for the text `a' or startswith(mail,'`, escaped.
        let escaped = "startswith(displayName,'a'' or startswith(mail,''')";
        assert_eq!(
            parse(escaped),
            Ok(Filter::StartsWith(
                Property::DisplayName,
                "a' or startswith(mail,'".into()
            ))
        );
        assert!(!matches(escaped));
        let ldap = "startswith(displayName,'*)(objectClass=*')";
        assert_eq!(
            parse(ldap),
            Ok(Filter::StartsWith(
                Property::DisplayName,
                "*)(objectClass=*".into()
            ))
        );
        assert!(!matches(ldap));
        // The same texts unescaped are not a filter at all.
        assert_eq!(code("*)(objectClass=*"), "BadRequest");
        assert_eq!(
            code("startswith(displayName,'a' or startswith(mail,'')"),
            "BadRequest"
        );
    }

    #[test]
    fn what_needs_advanced_queries_is_unsupported() {
        for filter in [
            "surname ne 'x'",
            "not startswith(mail,'a')",
            "endswith(mail,'@contoso.com')",
            "contains(displayName,'ara')",
            "startswith(department,'Eng')",
            "department eq 'Engineering'",
            "startswith(id,'1')",
        ] {
            assert_eq!(code(filter), "Request_UnsupportedQuery", "{filter}");
        }
    }

    #[test]
    fn malformed_filters_are_bad_requests_that_say_why() {
        for (filter, says) in [
            ("", "empty"),
            ("startswith(mail,'a'", "')' expected"),
            (
                "startswith(mail,'a",
                "unterminated string literal at position 16",
            ),
            ("mail eq", "a value expected"),
            ("mail eq 'a' or", "an expression expected"),
            ("mail eq 'a' mail", "'mail' at position 12 is not expected"),
            ("foo eq 'a'", "property named 'foo'"),
            ("substringof('a',mail)", "unknown function"),
            ("startswith('a',mail)", "property name first"),
            ("startswith(mail,mail)", "string literal"),
            ("mail eq 42", "incompatible types"),
            ("mail = 'a'", "character '=' is not valid at position 5"),
            ("mail eq \"a\"", "character '\"'"),
            ("mail like 'a'", "'like' is no operator"),
        ] {
            match parse(filter) {
                Err(error) => {
                    assert_eq!(error.code, "BadRequest", "{filter}");
                    assert!(error.message.contains(says), "{filter}: {}", error.message);
                }
                Ok(parsed) => panic!("{filter} parsed: {parsed:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_and_odd_input_never_panic() {
        let deep = format!("{}mail eq 'a'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(
            parse(&deep)
                .unwrap_err()
                .message
                .contains("nests more than")
        );
        let fine = format!("{}mail eq 'a'{}", "(".repeat(20), ")".repeat(20));
        assert!(parse(&fine).is_ok());
        for odd in [
            "(",
            ")",
            ",",
            "'",
            "''",
            "(((",
            "startswith(",
            "startswith(mail",
            "mail eq 'é''",
            "\u{0}",
            "ÿ eq 'x'",
            "or",
            "and and",
            "mail eq null or",
        ] {
            assert!(parse(odd).is_err(), "{odd:?}");
        }
    }
}
