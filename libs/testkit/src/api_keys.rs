//! [`ApiKeyFile`]: the API key table a test's service loads, written with
//! fresh random keys whose secrets the test keeps.

use std::path::Path;

use tracechain_domain::{Role, TenantId};
use tracechain_http::{ApiKeyEntry, ApiKeyTable, generate_api_key};

/// API keys being collected for one key table file.
#[derive(Debug, Default)]
pub struct ApiKeyFile {
    /// One entry per key added; the secrets went back to the caller.
    entries: Vec<ApiKeyEntry>,
}

impl ApiKeyFile {
    /// No keys yet.
    pub fn new() -> ApiKeyFile {
        ApiKeyFile::default()
    }

    /// Adds a new key of `role` for `tenant`, labelled `label` (labels must
    /// differ); returns its secret, the `Bearer` token.
    pub fn add(&mut self, role: Role, tenant: &str, label: &str) -> String {
        let tenant = TenantId::parse(tenant)
            .unwrap_or_else(|error| panic!("tenant {tenant:?} is invalid: {error}"));
        let (secret, entry) = generate_api_key(role, tenant, label)
            .unwrap_or_else(|error| panic!("cannot make an API key: {error}"));
        self.entries.push(entry);
        secret
    }

    /// Writes the table (pretty JSON, hashes only) to `path`.
    pub fn write(&self, path: &Path) {
        let table = ApiKeyTable::from_entries(self.entries.clone())
            .unwrap_or_else(|error| panic!("the API key table is invalid: {error}"));
        std::fs::write(path, table.to_json_pretty())
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_table_authenticates_each_secret_as_its_role_and_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-keys.json");
        let mut keys = ApiKeyFile::new();
        let acme = keys.add(Role::Manufacturer, "acme", "acme");
        let auditor = keys.add(Role::Auditor, "audit-co", "auditor");
        keys.write(&path);

        let table = ApiKeyTable::load(&path).unwrap();
        assert_eq!(table.entries().len(), 2);
        let entry = table.lookup(&acme).unwrap();
        assert_eq!(
            (entry.role(), entry.tenant().as_str()),
            (Role::Manufacturer, "acme")
        );
        let entry = table.lookup(&auditor).unwrap();
        assert_eq!(
            (entry.role(), entry.tenant().as_str()),
            (Role::Auditor, "audit-co")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&acme), "the file holds hashes only");
    }
}
