//! What a client sends to create or change a product, and the valid values they parse into.
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use shared::http::problem::FieldError;
use shared::http::validation::Errors;

use super::product as parse;

/// A price as sent: the amount is a string so it stays exact.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Non-negative decimal string with at most 4 fractional digits, e.g. `"19.99"`.
    pub amount: String,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
}

/// A new product.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// 1 to 200 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// 1 to 64 characters; compared exactly.
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub price: PriceInput,
    /// Default 0.
    #[serde(default)]
    pub stock: i64,
    /// Default true; inactive products are never recommended.
    #[serde(default = "default_active")]
    pub active: bool,
    /// A JSON object (at most 64 keys); default `{}`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub attributes: Value,
}

fn default_active() -> bool {
    true
}
fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A partial update. The expected version comes from `If-Match` or from `version`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price: Option<PriceInput>,
    pub stock: Option<i64>,
    pub active: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// The version this change is based on (alternative to `If-Match`).
    pub version: Option<i64>,
}

impl CreateProduct {
    /// The valid new product, or every field's error.
    pub fn parse(self) -> Result<NewProduct, Vec<FieldError>> {
        let mut errors = Errors::default();
        let name = errors.check("name", parse::name(&self.name));
        let description = errors.check("description", parse::description(&self.description));
        let category = errors.check("category", parse::category(&self.category));
        let tags = errors.check("tags", parse::tags(&self.tags));
        let amount = errors.check("price.amount", parse::amount(&self.price.amount));
        let currency = errors.check("price.currency", parse::currency(&self.price.currency));
        let stock = errors.check("stock", parse::stock(self.stock));
        let attributes = errors.check("attributes", parse::attributes(self.attributes));
        errors.into_result()?;
        // Every field parsed (no error above): the defaults are never used.
        Ok(NewProduct {
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            category: category.unwrap_or_default(),
            tags: tags.unwrap_or_default(),
            price_amount: amount.unwrap_or_default(),
            price_currency: currency.unwrap_or_default(),
            stock: stock.unwrap_or_default(),
            active: self.active,
            attributes: attributes.unwrap_or_default(),
        })
    }
}

impl UpdateProduct {
    /// The valid changes (absent fields stay as they are), or every field's error.
    pub fn parse(self) -> Result<Changes, Vec<FieldError>> {
        let mut errors = Errors::default();
        let price = self.price.map(|p| {
            let amount = errors.check("price.amount", parse::amount(&p.amount));
            let currency = errors.check("price.currency", parse::currency(&p.currency));
            amount.zip(currency)
        });
        let changes = Changes {
            name: self.name.and_then(|v| errors.check("name", parse::name(&v))),
            description: self
                .description
                .and_then(|v| errors.check("description", parse::description(&v))),
            category: self
                .category
                .and_then(|v| errors.check("category", parse::category(&v))),
            tags: self.tags.and_then(|v| errors.check("tags", parse::tags(&v))),
            price: price.flatten(),
            stock: self.stock.and_then(|v| errors.check("stock", parse::stock(v))),
            active: self.active,
            attributes: self
                .attributes
                .and_then(|v| errors.check("attributes", parse::attributes(v))),
        };
        errors.into_result()?;
        Ok(changes)
    }
}

/// A validated new product.
pub struct NewProduct {
    pub name: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    pub price_amount: Decimal,
    pub price_currency: String,
    pub stock: i32,
    pub active: bool,
    pub attributes: serde_json::Value,
}

/// Validated changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price: Option<(Decimal, String)>,
    pub stock: Option<i32>,
    pub active: Option<bool>,
    pub attributes: Option<serde_json::Value>,
}
