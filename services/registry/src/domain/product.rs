//! Registering a product: the request body and its validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracechain_domain::{Gtin, TenantId};
use tracechain_http::FieldError;
use utoipa::ToSchema;

use super::Violations;
use super::text;

/// Longest product name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest brand.
pub const MAX_BRAND_CHARS: usize = 200;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most attributes.
pub const MAX_ATTRIBUTES: usize = 50;
/// Longest attribute name.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 64;
/// Longest attribute value.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 500;

/// `POST /v1/products`: a product to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterProduct {
    /// The GTIN: 8, 12, 13 or 14 digits with a valid check digit; stored and
    /// shown as GTIN-14.
    #[schema(example = "9506000134352")]
    pub gtin: String,
    /// The product's name, 1 to 200 characters.
    #[schema(example = "Organic olive oil 500 ml")]
    pub name: String,
    /// A description, up to 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The brand, up to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Acme")]
    pub brand: Option<String>,
    /// Up to 50 string attributes (name 1 to 64 characters, value up to 500).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The owning tenant. Only an admin may name one (registering on a
    /// manufacturer's behalf); a manufacturer's products are always its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "acme")]
    pub manufacturer: Option<String>,
}

/// A validated [`RegisterProduct`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The GTIN, normalised to 14 digits.
    pub gtin: Gtin,
    /// The name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The brand.
    pub brand: Option<String>,
    /// The attributes.
    pub attributes: BTreeMap<String, String>,
    /// The tenant named in the request, if any.
    pub manufacturer: Option<TenantId>,
}

impl RegisterProduct {
    /// Validates every field; the error lists each invalid one.
    pub fn validate(&self) -> Result<NewProduct, Vec<FieldError>> {
        let mut v = Violations::new();
        let gtin = v.check("gtin", Gtin::parse(&self.gtin));
        v.check("name", text::check(&self.name, MAX_NAME_CHARS, false));
        if let Some(description) = &self.description {
            v.check(
                "description",
                text::check(description, MAX_DESCRIPTION_CHARS, true),
            );
        }
        if let Some(brand) = &self.brand {
            v.check("brand", text::check(brand, MAX_BRAND_CHARS, false));
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            v.add(
                "attributes",
                format!(
                    "has {} entries, at most {MAX_ATTRIBUTES} allowed",
                    self.attributes.len()
                ),
            );
        } else {
            for (name, value) in &self.attributes {
                let field = format!("attributes.{}", name.chars().take(64).collect::<String>());
                if let Err(error) = text::check(name, MAX_ATTRIBUTE_NAME_CHARS, false) {
                    v.add(field.clone(), format!("attribute name {error}"));
                }
                if value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS
                    || value.chars().any(char::is_control)
                {
                    v.add(
                        field,
                        format!(
                            "attribute value must be at most {MAX_ATTRIBUTE_VALUE_CHARS} characters without control characters"
                        ),
                    );
                }
            }
        }
        let manufacturer = match &self.manufacturer {
            Some(m) => v.check("manufacturer", TenantId::parse(m)).map(Some),
            None => Some(None),
        };
        let product = gtin
            .zip(manufacturer)
            .map(|(gtin, manufacturer)| NewProduct {
                gtin,
                name: self.name.clone(),
                description: self.description.clone(),
                brand: self.brand.clone(),
                attributes: self.attributes.clone(),
                manufacturer,
            });
        v.finish(product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RegisterProduct {
        RegisterProduct {
            gtin: "9506000134352".into(),
            name: "Oil".into(),
            description: None,
            brand: Some("Acme".into()),
            attributes: BTreeMap::from([("volume".into(), "500 ml".into())]),
            manufacturer: None,
        }
    }

    #[test]
    fn valid_request_normalises_the_gtin() {
        let product = request().validate().unwrap();
        assert_eq!(product.gtin.as_str(), "09506000134352");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut r = request();
        r.gtin = "9506000134353".into();
        r.name = " ".into();
        r.brand = Some("x".repeat(201));
        r.manufacturer = Some("ACME".into());
        r.attributes.insert(String::new(), "v".into());
        let errors = r.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["gtin", "name", "brand", "attributes.", "manufacturer"]
        );
        assert!(errors[0].message.contains("check digit"), "{errors:?}");
    }
}
