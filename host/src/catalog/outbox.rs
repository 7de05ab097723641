//! The webhook outbox: the messages a change announces are written in the
//! transaction of the change itself, so a crash loses none and a change
//! that does not commit sends none; delivering them is claimed like a job.
//!
//! Which endpoints hear of a change, and what they are sent, is the
//! `Announce` the catalog was opened with (`change.rs`): the catalog only
//! keeps the rows.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Encode, QueryBuilder, Row, Type};

use super::sql::{Dialect, RowOf, SqlCatalog};
use super::{CatalogError, LeaseToken, Timestamp};

/// A message claimed for delivery.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: i64,
    pub endpoint: String,
    pub message_id: String,
    pub event: String,
    pub body: String,
    /// Including this one.
    pub attempts: u32,
    pub lock: LeaseToken,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum Settlement {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// No more attempts.
    Failed,
    /// The endpoint answered `410 Gone`: the message fails and the endpoint
    /// is disabled until a replay.
    Gone,
}

/// What the outbox knows of an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointState {
    pub name: String,
    pub disabled_at: Option<Timestamp>,
    pub pending: u64,
    pub oldest_pending: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_outcome: Option<String>,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Takes the next due message of an enabled endpoint not among `busy`,
    /// locking it for `lock`; a message whose lock has passed (its sender
    /// died) is due again.
    async fn claim_message(&self, lock: Duration, busy: &[String]) -> Result<Option<Message>, CatalogError>;

    /// Records how an attempt ended, while `message`'s lock is still the one
    /// it was claimed with (`false` otherwise), and the endpoint's last attempt.
    async fn settle_message(
        &self,
        message: &Message,
        settlement: Settlement,
        outcome: &str,
    ) -> Result<bool, CatalogError>;

    /// Every endpoint the outbox has heard of, by name.
    async fn endpoint_states(&self) -> Result<Vec<EndpointState>, CatalogError>;

    /// Queues again every settled message to `endpoint` written at or after
    /// `since`, and enables the endpoint; answers how many.
    async fn replay_messages(&self, endpoint: &str, since: Timestamp) -> Result<u64, CatalogError>;

    /// Forgets messages written before `before`, settled or not (a message
    /// still owed that long, to an endpoint disabled or failing, is given
    /// up), except those being attempted now.
    async fn prune_messages(&self, before: Timestamp) -> Result<u64, CatalogError>;
}

#[async_trait]
impl<D: Dialect> Outbox for SqlCatalog<D>
where
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db> + Decode<'q, D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> &'q str: ColumnIndex<RowOf<D>>,
    usize: ColumnIndex<RowOf<D>>,
{
    async fn claim_message(&self, lock: Duration, busy: &[String]) -> Result<Option<Message>, CatalogError> {
        self.metered("claim_message", async {
            let token = LeaseToken::new();
            let mut query = QueryBuilder::new("UPDATE webhook_messages SET locked_until = ");
            D::push_now(&mut query, lock);
            query.push(", lock_token = ").push_bind(token.0);
            query.push(
                ", attempts = attempts + 1 WHERE id = (SELECT m.id FROM webhook_messages m \
                 WHERE m.state = 'pending' AND m.next_attempt_at <= ",
            );
            D::push_now(&mut query, Duration::ZERO);
            query.push(" AND (m.locked_until IS NULL OR m.locked_until < ");
            D::push_now(&mut query, Duration::ZERO);
            query.push(
                ") AND NOT EXISTS (SELECT 1 FROM webhook_endpoints d \
                 WHERE d.name = m.endpoint AND d.disabled_at IS NOT NULL)",
            );
            for endpoint in busy {
                query.push(" AND m.endpoint <> ").push_bind(endpoint.clone());
            }
            query.push(format!(" ORDER BY m.next_attempt_at, m.id LIMIT 1{}) ", D::SKIP_LOCKED));
            query.push("RETURNING id, endpoint, message_id, event, body, attempts");
            let Some(row) = self.row(&mut query).await? else {
                return Ok(None);
            };
            Ok(Some(Message {
                id: row.try_get("id")?,
                endpoint: row.try_get("endpoint")?,
                message_id: row.try_get("message_id")?,
                event: row.try_get("event")?,
                body: row.try_get("body")?,
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                lock: token,
            }))
        })
        .await
    }

    async fn settle_message(
        &self,
        message: &Message,
        settlement: Settlement,
        outcome: &str,
    ) -> Result<bool, CatalogError> {
        self.metered("settle_message", async {
            let mut settle = QueryBuilder::new("UPDATE webhook_messages SET locked_until = NULL, lock_token = NULL");
            match settlement {
                Settlement::Delivered => {
                    settle.push(", state = 'delivered'");
                }
                Settlement::Failed | Settlement::Gone => {
                    settle.push(", state = 'failed'");
                }
                Settlement::Retry(delay) => {
                    settle.push(", next_attempt_at = ");
                    D::push_now(&mut settle, delay);
                }
            }
            settle.push(", last_outcome = ").push_bind(outcome.to_owned());
            settle.push(" WHERE id = ").push_bind(message.id);
            settle.push(" AND lock_token = ").push_bind(message.lock.0);
            settle.push(" RETURNING id");

            let mut endpoint = QueryBuilder::new(
                "INSERT INTO webhook_endpoints (name, disabled_at, last_attempt_at, last_outcome) VALUES (",
            );
            endpoint.push_bind(message.endpoint.clone()).push(", ");
            let gone = matches!(settlement, Settlement::Gone);
            if gone {
                D::push_now(&mut endpoint, Duration::ZERO);
            } else {
                endpoint.push("NULL");
            }
            endpoint.push(", ");
            D::push_now(&mut endpoint, Duration::ZERO);
            endpoint.push(", ").push_bind(outcome.to_owned());
            endpoint.push(
                ") ON CONFLICT (name) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, \
                 last_outcome = excluded.last_outcome",
            );
            if gone {
                endpoint.push(", disabled_at = excluded.disabled_at");
            }

            let mut tx = self.begin_write().await?;
            let settled = !D::fetch(&mut tx, &mut settle).await?.is_empty();
            if settled {
                D::fetch(&mut tx, &mut endpoint).await?;
            }
            tx.commit().await?;
            Ok(settled)
        })
        .await
    }

    async fn endpoint_states(&self) -> Result<Vec<EndpointState>, CatalogError> {
        self.metered("endpoint_states", async {
            let mut known = QueryBuilder::new(
                "SELECT name, disabled_at, last_attempt_at, last_outcome FROM webhook_endpoints ORDER BY name",
            );
            let mut pending = QueryBuilder::new(
                "SELECT endpoint, COUNT(*) AS pending, MIN(created_at) AS oldest FROM webhook_messages \
                 WHERE state = 'pending' GROUP BY endpoint",
            );
            let mut states: Vec<EndpointState> = Vec::new();
            for row in self.rows(&mut known).await? {
                states.push(EndpointState {
                    name: row.try_get("name")?,
                    disabled_at: row.try_get::<Option<i64>, _>("disabled_at")?.map(Timestamp),
                    pending: 0,
                    oldest_pending: None,
                    last_attempt_at: row.try_get::<Option<i64>, _>("last_attempt_at")?.map(Timestamp),
                    last_outcome: row.try_get("last_outcome")?,
                });
            }
            for row in self.rows(&mut pending).await? {
                let name: String = row.try_get("endpoint")?;
                let count = u64::try_from(row.try_get::<i64, _>("pending")?).unwrap_or(0);
                let oldest = Timestamp(row.try_get("oldest")?);
                let at = match states.iter().position(|state| state.name == name) {
                    Some(at) => at,
                    None => {
                        states.push(EndpointState {
                            name,
                            disabled_at: None,
                            pending: 0,
                            oldest_pending: None,
                            last_attempt_at: None,
                            last_outcome: None,
                        });
                        states.len() - 1
                    }
                };
                states[at].pending = count;
                states[at].oldest_pending = Some(oldest);
            }
            states.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(states)
        })
        .await
    }

    async fn replay_messages(&self, endpoint: &str, since: Timestamp) -> Result<u64, CatalogError> {
        self.metered("replay_messages", async {
            let mut requeue =
                QueryBuilder::new("UPDATE webhook_messages SET state = 'pending', attempts = 0, next_attempt_at = ");
            D::push_now(&mut requeue, Duration::ZERO);
            requeue.push(" WHERE endpoint = ").push_bind(endpoint.to_owned());
            requeue.push(" AND created_at >= ").push_bind(since.0);
            requeue.push(" AND state <> 'pending' RETURNING id");
            let mut enable = QueryBuilder::new("UPDATE webhook_endpoints SET disabled_at = NULL WHERE name = ");
            enable.push_bind(endpoint.to_owned());

            let mut tx = self.begin_write().await?;
            let requeued = D::fetch(&mut tx, &mut requeue).await?.len() as u64;
            D::fetch(&mut tx, &mut enable).await?;
            tx.commit().await?;
            Ok(requeued)
        })
        .await
    }

    async fn prune_messages(&self, before: Timestamp) -> Result<u64, CatalogError> {
        self.metered("prune_messages", async {
            let mut query = QueryBuilder::new("DELETE FROM webhook_messages WHERE created_at < ");
            query.push_bind(before.0);
            query.push(" AND (locked_until IS NULL OR locked_until < ");
            D::push_now(&mut query, Duration::ZERO);
            query.push(") RETURNING id");
            Ok(self.rows(&mut query).await?.len() as u64)
        })
        .await
    }
}
