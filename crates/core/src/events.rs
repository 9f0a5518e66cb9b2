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
    /// What the `auth` block of a delivery to an application carries.
    pub auth: AuthBlock,
    /// Concerns one application: delivered only to that application's own handlers, never to
    /// other applications or to outgoing webhooks (the `ONAPP*` events and `ONOFFLINEEVENT`).
    pub app_only: bool,
    /// Part of installing or removing the application, so sent whatever the installation state:
    /// `ONAPPINSTALL` goes out before `installFinish` (decision 27), `ONAPPUNINSTALL` after the
    /// application is gone.
    pub lifecycle: bool,
}

/// The shape of an application delivery's `auth` block (`events.md` §7, §9; facts 79-81).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthBlock {
    /// Access token of the user behind the event, scope, status and the portal keys.
    Tokens,
    /// The same plus `refresh_token`: the events that give a background application long-lived
    /// access (`ONAPPINSTALL`, `ONAPPUPDATE`, `ONOFFLINEEVENT`).
    TokensWithRefresh,
    /// Only the portal keys and `application_token`: the application can no longer call the API
    /// (`ONAPPUNINSTALL`).
    PortalOnly,
}

impl EventInfo {
    const fn crm(name: &'static str) -> EventInfo {
        EventInfo {
            name,
            scope: "crm",
            auth: AuthBlock::Tokens,
            app_only: false,
            lifecycle: false,
        }
    }

    const fn app(name: &'static str, auth: AuthBlock, lifecycle: bool) -> EventInfo {
        EventInfo {
            name,
            scope: "basic",
            auth,
            app_only: true,
            lifecycle,
        }
    }
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
    EventInfo::app(APP_UNINSTALL, AuthBlock::PortalOnly, true),
    EventInfo::app(APP_INSTALL, AuthBlock::TokensWithRefresh, true),
    EventInfo::app(APP_UPDATE, AuthBlock::TokensWithRefresh, false),
    EventInfo::app(APP_TEST, AuthBlock::Tokens, false),
    EventInfo::app(OFFLINE_EVENT, AuthBlock::TokensWithRefresh, false),
    EventInfo::crm(CONTACT_USERFIELD_ADD),
    EventInfo::crm(CONTACT_USERFIELD_UPDATE),
    EventInfo::crm(CONTACT_USERFIELD_DELETE),
    EventInfo::crm(CONTACT_USERFIELD_SETENUMVALUES),
];

/// Looks an event up by name in any letter case.
pub fn find(name: &str) -> Option<&'static EventInfo> {
    let upper = name.trim().to_ascii_uppercase();
    CATALOGUE.iter().find(|event| event.name == upper)
}

/// Upper-cases and checks the event list of an outgoing webhook, dropping duplicates; the error
/// names the first event that is unknown or that only applications receive (`ONAPP*`,
/// `ONOFFLINEEVENT`: Bitrix24 offers them to applications only).
pub fn normalize_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<String>, String> {
    let mut events: Vec<String> = Vec::new();
    for name in names {
        let info = find(name.as_ref())
            .filter(|info| !info.app_only)
            .ok_or_else(|| name.as_ref().to_string())?;
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
        assert_eq!(
            normalize_list(&["onAppTest"]),
            Err("onAppTest".to_string()),
            "application events are not for outgoing webhooks"
        );
    }
}
