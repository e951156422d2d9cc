//! Who is who: tenants (the companies sharing one tracechain deployment) and
//! the roles a caller can act in.

mod role;
mod tenant_id;

pub use role::{Role, RoleError};
pub use tenant_id::{TenantId, TenantIdError};
