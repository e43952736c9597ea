//! The doctor's report: one row per check (ok / warn / fail / skip and a short detail), shown as
//! a table or as JSON. Pure: the checks fill it, the command prints it.

use serde::Serialize;

/// How one check came out. Only `Fail` makes `doctor` exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something is worth knowing (an ignored file, a NON_SSO server).
    Warn,
    Fail,
    /// Not checked: what it needs is absent (no server given) or it does not apply here.
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One row. `name` is stable (scripts match on it); `detail` is for people, one line, and never
/// holds a secret (URLs go through `redact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Check {
    pub fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Self {
        // One line per row, whatever a cause's text holds.
        let detail = detail.into().replace(['\n', '\r'], " ");
        Check {
            name,
            status,
            detail,
        }
    }
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail)
    }
    pub fn warn(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail)
    }
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail)
    }
    pub fn skip(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, detail)
    }
}

/// Every row, in the order the checks ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

/// The JSON document `doctor --format json` prints.
#[derive(Serialize)]
struct JsonReport<'a> {
    version: &'static str,
    profile: &'a str,
    ok: bool,
    failed: Vec<&'static str>,
    checks: &'a [Check],
}

impl Report {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// The names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name)
            .collect()
    }

    /// `CHECK  STATUS  DETAIL` columns, a header first, one line per row.
    pub fn table(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        let mut out = format!("{:<width$}  {:<6}  DETAIL\n", "CHECK", "STATUS");
        for c in &self.checks {
            let line = format!("{:<width$}  {:<6}  {}", c.name, c.status.as_str(), c.detail);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// One JSON object: `version`, `profile`, `ok`, `failed` (names), `checks` (rows).
    pub fn json(&self, profile: &str) -> String {
        let doc = JsonReport {
            version: env!("CARGO_PKG_VERSION"),
            profile,
            ok: self.failed().is_empty(),
            failed: self.failed(),
            checks: &self.checks,
        };
        // Plain strings and enums only: serialising cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report::default();
        r.push(Check::ok("engine", "WebKitGTK 2.44.2"));
        r.push(Check::fail("tls", "certificate not trusted\nsecond line"));
        r.push(Check::skip("auth_mode", "no answer from Finesse"));
        r.push(Check::warn("window_program", ""));
        r
    }

    #[test]
    fn table_has_aligned_columns_and_one_line_per_row() {
        let t = report().table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "CHECK           STATUS  DETAIL");
        assert_eq!(lines[1], "engine          ok      WebKitGTK 2.44.2");
        assert_eq!(
            lines[2],
            "tls             fail    certificate not trusted second line"
        );
        assert_eq!(lines[4], "window_program  warn", "no trailing blanks");
    }

    #[test]
    fn json_names_the_failures() {
        let r = report();
        assert_eq!(r.failed(), ["tls"]);
        let v: serde_json::Value = serde_json::from_str(&r.json("lab")).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["profile"], "lab");
        assert_eq!(v["failed"], serde_json::json!(["tls"]));
        assert_eq!(v["checks"][0]["name"], "engine");
        assert_eq!(v["checks"][0]["status"], "ok");
        assert_eq!(v["checks"][2]["status"], "skip");
        assert_eq!(v["checks"].as_array().unwrap().len(), 4);
        let mut fine = Report::default();
        fine.push(Check::warn("agent", "x"));
        let v: serde_json::Value = serde_json::from_str(&fine.json("default")).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["failed"], serde_json::json!([]));
    }
}
