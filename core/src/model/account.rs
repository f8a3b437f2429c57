//! Accounts: enterprise and government client organisations, shared by the account
//! managers who own them.

use autosurgeon::{Hydrate, Reconcile};

use super::common::{SegmentKind, ValueTier};
use super::{Record, RecordContext, require_text};
use crate::error::{Error, ValidationError};
use crate::ids::Kind;

/// A contact person at the account.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Contact {
    /// Unique id.
    #[key]
    pub id: String,
    /// Name.
    pub name: String,
    /// Role at the client.
    pub role: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

/// A client organisation.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Account {
    /// Organisation name.
    pub name: String,
    /// Segment (usually enterprise).
    pub segment: SegmentKind,
    /// Industry.
    pub industry: Option<String>,
    /// Size band, e.g. `50-249`.
    pub size: Option<String>,
    /// Region path.
    pub region: String,
    /// Value tier.
    pub value_tier: Option<ValueTier>,
    /// Core customer flag.
    pub core: bool,
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// Owning account manager (user id).
    pub owner: String,
    /// Colleagues who co-own the account.
    pub co_owners: Vec<String>,
}

impl Record for Account {
    const KIND: Kind = Kind::Account;

    fn validate(&self, _before: Option<&Self>, _ctx: &dyn RecordContext) -> Result<(), Error> {
        require_text("name", &self.name)?;
        require_text("owner", &self.owner)?;
        require_text("region", &self.region)?;
        for (i, c) in self.contacts.iter().enumerate() {
            require_text(&format!("contacts[{i}].id"), &c.id)?;
            require_text(&format!("contacts[{i}].name"), &c.name)?;
        }
        let mut ids: Vec<&str> = self.contacts.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(ValidationError::new(
                "contacts",
                "duplicate",
                "contact ids must be unique",
            )
            .into());
        }
        Ok(())
    }
}
