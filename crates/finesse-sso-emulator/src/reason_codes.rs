//! The emulator's reason codes (Not Ready and Sign Out) and their `<ReasonCodes>` XML.

use crate::pages::escape;

/// One configured reason code. `id` is the database id a client sends as `reasonCodeId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReasonCode {
    pub id: i64,
    pub category: &'static str,
    pub code: u32,
    pub label: &'static str,
}

pub(crate) const NOT_READY: &str = "NOT_READY";
pub(crate) const LOGOUT: &str = "LOGOUT";

/// The codes of a typical site (labels from Cisco's examples).
const DEFAULT: &[ReasonCode] = &[
    ReasonCode {
        id: 16,
        category: NOT_READY,
        code: 10,
        label: "Team Meeting",
    },
    ReasonCode {
        id: 17,
        category: NOT_READY,
        code: 11,
        label: "Break",
    },
    ReasonCode {
        id: 18,
        category: NOT_READY,
        code: 12,
        label: "Lunch",
    },
    ReasonCode {
        id: 55,
        category: LOGOUT,
        code: 222,
        label: "End of Shift",
    },
    ReasonCode {
        id: 56,
        category: LOGOUT,
        code: 223,
        label: "Training",
    },
];

/// The configured codes (none with `--no-reason-codes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReasonCodes(&'static [ReasonCode]);

impl ReasonCodes {
    pub fn new(none: bool) -> Self {
        ReasonCodes(if none { &[] } else { DEFAULT })
    }

    pub fn of(&self, category: &str) -> impl Iterator<Item = &ReasonCode> {
        let all = category == "ALL";
        self.0.iter().filter(move |c| all || c.category == category)
    }

    /// Whether `category` has codes (then a `reasonCodeId` is required for it).
    pub fn configured(&self, category: &str) -> bool {
        self.of(category).next().is_some()
    }

    pub fn find(&self, category: &str, id: i64) -> Option<&ReasonCode> {
        self.of(category).find(|c| c.id == id)
    }

    pub fn by_id(&self, id: i64) -> Option<&ReasonCode> {
        self.0.iter().find(|c| c.id == id)
    }

    /// `<ReasonCodes category="…">` as `GET …/ReasonCodes?category=` answers it.
    pub fn xml(&self, category: &str) -> String {
        let items: String = self.of(category).map(reason_code_xml).collect();
        format!(
            "<ReasonCodes category=\"{}\">{items}</ReasonCodes>",
            escape(category)
        )
    }
}

/// One `<ReasonCode>` block (also embedded in `<User>` when the agent has a reason).
pub(crate) fn reason_code_xml(c: &ReasonCode) -> String {
    format!(
        "<ReasonCode><category>{}</category><uri>/finesse/api/ReasonCode/{id}</uri>\
         <code>{}</code><label>{}</label><forAll>true</forAll><systemCode>false</systemCode>\
         <id>{id}</id></ReasonCode>",
        c.category,
        c.code,
        escape(c.label),
        id = c.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_filter_and_render() {
        let c = ReasonCodes::new(false);
        assert!(c.configured(NOT_READY) && c.configured(LOGOUT));
        assert_eq!(c.find(NOT_READY, 16).unwrap().label, "Team Meeting");
        assert!(c.find(LOGOUT, 16).is_none());
        let x = c.xml(LOGOUT);
        assert!(x.starts_with("<ReasonCodes category=\"LOGOUT\"><ReasonCode>"));
        assert!(x.contains("<label>End of Shift</label>") && !x.contains("Break"));
        assert_eq!(c.of("ALL").count(), 5);
        let none = ReasonCodes::new(true);
        assert!(!none.configured(NOT_READY));
        assert_eq!(
            none.xml(NOT_READY),
            "<ReasonCodes category=\"NOT_READY\"></ReasonCodes>"
        );
    }
}
