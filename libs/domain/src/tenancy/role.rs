//! [`Role`]: what a caller acts as. Which role may do what is decided by the
//! services; this type only names the roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A caller's role. Serialized, parsed and displayed in lowercase
/// (`manufacturer`, `carrier`, `finance`, `auditor`, `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Registers products, lots and serials; issues item QR codes.
    Manufacturer,
    /// Moves shipments and scans them with registered devices.
    Carrier,
    /// Agrees rates and reconciles settlements.
    Finance,
    /// Reads and verifies the chain.
    Auditor,
    /// Operates the deployment.
    Admin,
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{input}', expected one of manufacturer, carrier, finance, auditor, admin")]
pub struct RoleError {
    /// The input.
    pub input: String,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 5] = [
        Role::Manufacturer,
        Role::Carrier,
        Role::Finance,
        Role::Auditor,
        Role::Admin,
    ];

    /// The lowercase name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manufacturer => "manufacturer",
            Role::Carrier => "carrier",
            Role::Finance => "finance",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RoleError;

    /// Exact lowercase names only, matching serde.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_every_form() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
    }

    #[test]
    fn unknown_roles() {
        assert_eq!(
            "Admin".parse::<Role>().unwrap_err().to_string(),
            "unknown role 'Admin', expected one of manufacturer, carrier, finance, auditor, admin"
        );
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}
