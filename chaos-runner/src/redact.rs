//! Secrets never reach logs, summary.json or the reports: a `token=` in a URL's query is
//! shown as `token=REDACTED`.

/// Whether a given token is the expected one, compared without stopping at the first
/// difference (the node agent's and the gatherer's Bearer tokens).
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `s` with the value of every `token=` query parameter replaced.
pub fn secrets(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("token=") {
        let starts_param = i == 0 || matches!(rest.as_bytes()[i - 1], b'?' | b'&' | b';');
        out.push_str(&rest[..i + "token=".len()]);
        rest = &rest[i + "token=".len()..];
        if starts_param {
            let end = rest
                .find(|c: char| matches!(c, '&' | '#' | ',' | ';') || c.is_whitespace())
                .unwrap_or(rest.len());
            if end > 0 {
                out.push_str("REDACTED");
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_token_values_only() {
        assert_eq!(
            secrets("http:/kill?token=s3cret,every=3s"),
            "http:/kill?token=REDACTED,every=3s"
        );
        assert_eq!(
            secrets("http://h:8080/status?a=1&token=x y token=z"),
            "http://h:8080/status?a=1&token=REDACTED y token=z"
        );
        assert_eq!(secrets("GET /kill?token=&b=2"), "GET /kill?token=&b=2");
        assert_eq!(secrets("no secrets here"), "no secrets here");
        assert_eq!(secrets("mytoken=abc"), "mytoken=abc");
    }
}
