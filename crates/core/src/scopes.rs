//! The scopes a Bitrix24 portal knows (`rest-protocol.md` §5.5), whether or not b24lite serves
//! methods in them: a webhook or an application may well be given `task` or `im` to mirror a
//! real portal's configuration. `basic` is implicit.

/// Every scope a cloud portal offers, `user`'s narrower variants and the deprecated task scopes
/// included.
pub const KNOWN: &[&str] = &[
    "ai_admin",
    "basic",
    "biconnector",
    "bizproc",
    "booking",
    "calendar",
    "call",
    "cashbox",
    "catalog",
    "contact_center",
    "crm",
    "delivery",
    "department",
    "disk",
    "documentgenerator",
    "entity",
    "humanresources",
    "humanresources.hcmlink",
    "im",
    "imbot",
    "imconnector",
    "imopenlines",
    "intranet",
    "landing",
    "lists",
    "log",
    "mailservice",
    "main",
    "messageservice",
    "mobile",
    "pay_system",
    "placement",
    "pull",
    "rpa",
    "sale",
    "salescenter",
    "sign.b2e",
    "socialnetwork",
    "sonet_group",
    "task",
    "tasks",
    "tasks_extended",
    "tasksmobile",
    "telephony",
    "timeman",
    "user",
    "user.userfield",
    "user_basic",
    "user_brief",
    "userconsent",
    "userfieldconfig",
    "vote",
];

/// The scopes of `scopes` that no portal knows (most likely typing mistakes).
pub fn unknown(scopes: &[String]) -> Vec<&str> {
    scopes
        .iter()
        .map(String::as_str)
        .filter(|scope| !KNOWN.contains(scope))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_mistakes_are_found() {
        let given = [
            "crm".to_string(),
            "crn".to_string(),
            "user_brief".to_string(),
        ];
        assert_eq!(unknown(&given), ["crn"]);
        assert!(
            KNOWN.windows(2).all(|pair| pair[0] < pair[1]),
            "kept sorted"
        );
    }
}
