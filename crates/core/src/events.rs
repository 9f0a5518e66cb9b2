//! The catalogue of events b24lite knows: names as delivered (upper case) and their scope.
//!
//! One place for every path that fires, binds or lists events (the outbox, outgoing webhooks,
//! `b24lite listen`, and later the app-only `events`/`event.bind` methods). Names are accepted in
//! any letter case and stored and sent upper-case (`events.md` §2).

/// An event that can be subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// Upper-case name, as delivered in `event`.
    pub name: &'static str,
    /// The scope an application needs to bind it.
    pub scope: &'static str,
}

pub const CONTACT_USERFIELD_ADD: &str = "ONCRMCONTACTUSERFIELDADD";
pub const CONTACT_USERFIELD_UPDATE: &str = "ONCRMCONTACTUSERFIELDUPDATE";
pub const CONTACT_USERFIELD_DELETE: &str = "ONCRMCONTACTUSERFIELDDELETE";
pub const CONTACT_USERFIELD_SETENUMVALUES: &str = "ONCRMCONTACTUSERFIELDSETENUMVALUES";

pub const APP_INSTALL: &str = "ONAPPINSTALL";
pub const APP_UNINSTALL: &str = "ONAPPUNINSTALL";
pub const APP_UPDATE: &str = "ONAPPUPDATE";
pub const APP_TEST: &str = "ONAPPTEST";
pub const OFFLINE_EVENT: &str = "ONOFFLINEEVENT";

/// Every event b24lite fires, in the order the `events` method lists them: the application
/// events of the `basic` scope first, as Bitrix24 lists them, then the CRM ones.
pub const CATALOGUE: &[EventInfo] = &[
    EventInfo {
        name: APP_UNINSTALL,
        scope: "basic",
    },
    EventInfo {
        name: APP_INSTALL,
        scope: "basic",
    },
    EventInfo {
        name: APP_UPDATE,
        scope: "basic",
    },
    EventInfo {
        name: APP_TEST,
        scope: "basic",
    },
    EventInfo {
        name: OFFLINE_EVENT,
        scope: "basic",
    },
    EventInfo {
        name: CONTACT_USERFIELD_ADD,
        scope: "crm",
    },
    EventInfo {
        name: CONTACT_USERFIELD_UPDATE,
        scope: "crm",
    },
    EventInfo {
        name: CONTACT_USERFIELD_DELETE,
        scope: "crm",
    },
    EventInfo {
        name: CONTACT_USERFIELD_SETENUMVALUES,
        scope: "crm",
    },
];

/// Looks an event up by name in any letter case.
pub fn find(name: &str) -> Option<&'static EventInfo> {
    let upper = name.trim().to_ascii_uppercase();
    CATALOGUE.iter().find(|event| event.name == upper)
}

/// Upper-cases and checks a list of event names, dropping duplicates; the error names the first
/// unknown event.
pub fn normalize_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<String>, String> {
    let mut events: Vec<String> = Vec::new();
    for name in names {
        let info = find(name.as_ref()).ok_or_else(|| name.as_ref().to_string())?;
        if !events.iter().any(|e| e == info.name) {
            events.push(info.name.to_string());
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            find("onCrmContactUserFieldAdd").map(|e| e.name),
            Some(CONTACT_USERFIELD_ADD)
        );
        assert_eq!(find("ONCRMDEALADD"), None);
        assert!(
            CATALOGUE
                .iter()
                .all(|e| e.scope == "crm" || e.scope == "basic")
        );
        assert_eq!(
            normalize_list(&["oncrmcontactuserfielddelete", "ONCRMCONTACTUSERFIELDDELETE"]),
            Ok(vec![CONTACT_USERFIELD_DELETE.to_string()])
        );
        assert_eq!(normalize_list(&["OnFoo"]), Err("OnFoo".to_string()));
    }
}
