//! The request clients send all day, `{"op":"token","id":…,"min_valid":…}` and nothing else,
//! read in one pass: the general way (`protocol::parse_request`) builds a JSON tree and then the
//! request from it, half a microsecond, most of what a cached `token` cost beyond the socket
//! (docs/benchmarks.md "The pipe"). Anything this does not take (another op, another field, a
//! repeated field, an id that is not a number or a string, not an object) goes the general way,
//! which reads it the same (the tests below hold both to that).

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainToken {
    op: PlainOp,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    min_valid: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PlainOp {
    Token,
}

/// The id and `min_valid` of a plain `token` request line; `None` for any other line.
pub fn read(line: &[u8]) -> Option<(Option<Value>, u64)> {
    // A struct also reads from a JSON array: only an object may take this path.
    if !line.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let PlainToken {
        op: PlainOp::Token,
        id,
        min_valid,
    } = serde_json::from_slice(line).ok()?;
    matches!(id, None | Some(Value::Number(_) | Value::String(_))).then_some((id, min_valid))
}

#[cfg(test)]
mod tests {
    use crate::ipc::protocol::{parse_general, parse_request};

    #[test]
    fn the_plain_token_path_reads_what_the_general_one_reads() {
        let lines = [
            "{\"op\":\"token\",\"id\":1}\n",
            "{\"op\":\"token\"}",
            "{\"id\":\"a\\\"b\",\"min_valid\":60,\"op\":\"token\"}\r\n",
            "{\"op\":\"token\",\"id\":null}",
            "{\"op\":\"token\",\"id\":-2.5e3}",
            "  {\"op\":\"token\",\"id\":18446744073709551615}  \n",
            // Not plain: these go the general way (and some are errors there).
            "{\"op\":\"token\",\"id\":[1]}",
            "{\"op\":\"token\",\"id\":true}",
            "{\"op\":\"token\",\"min_valid\":-1}",
            "{\"op\":\"token\",\"later\":true}",
            "{\"op\":\"token\",\"op\":\"stop\"}",
            "{\"op\":\"Token\"}",
            "{\"op\":\"status\",\"id\":1}",
            "[\"token\"]",
            " [\"token\", 1, 5]",
            "\u{feff}{\"op\":\"token\"}",
            "{\"op\":\"token\",\"id\":1}\u{0}",
            "{\"op\":\"token\",\"id\":1}{",
        ];
        for l in lines {
            same_either_way(l);
        }
    }

    fn same_either_way(l: &str) {
        match (parse_request(l.as_bytes()), parse_general(l.as_bytes())) {
            (Ok(f), Ok(g)) => assert_eq!(f, g, "{l}"),
            (Err(f), Err(g)) => assert_eq!(f, g, "{l}"),
            (f, g) => panic!("{l}: {f:?} vs {g:?}"),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn plain_and_general_agree_on_any_object(
            pairs in proptest::collection::vec((
                proptest::sample::select(vec!["op", "id", "min_valid", "later", "Op"]),
                proptest::sample::select(vec![
                    "\"token\"", "\"status\"", "1", "-0.5", "1e400", "18446744073709551616",
                    "\"x\"", "null", "true", "[1]", "{}", "-1",
                ]),
            ), 0..5),
            around in proptest::sample::select(vec![("", ""), (" ", "\r\n"), ("[", "]"), ("", "{")]),
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            same_either_way(&format!("{}{{{}}}{}", around.0, body.join(","), around.1));
        }
    }
}
