//! The `outbox` table.
use sea_orm::entity::prelude::*;

/// One event waiting to be (or already) published.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// Publication order.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: Uuid,
    /// Logical topic name (the deployment's prefix is added when publishing).
    pub topic: String,
    /// Kafka message key (the entity id).
    pub event_key: String,
    pub event_type: String,
    /// The whole envelope, as published.
    pub payload: Json,
    pub created_at: DateTimeWithTimeZone,
    /// Set when the broker acknowledged the event; NULL while pending.
    pub sent_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
