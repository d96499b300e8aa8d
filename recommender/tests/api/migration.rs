//! Upgrading a database whose counts were kept in per-pair rows: the totals become the first
//! snapshot, tagged with the stored partition offsets, and the state read back is the same.
use recommender::migration::Migrator;
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;

use crate::helpers::test_settings;

#[actix_web::test]
async fn the_upgrade_folds_the_count_tables_into_the_first_snapshot() {
    let settings = test_settings().await;
    let db = shared::db::connect_lazy(&settings.common.database).await.unwrap();
    // The pipeline tables and the four migrations before the in-memory state.
    Migrator::up(&db, Some(5)).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO item_counts (item, users, popularity) VALUES (1, 2.0, 7.5), (2, 1.0, 0.5); \
         INSERT INTO co_counts (from_item, to_item, weight) VALUES (1, 2, 0.75), (2, 1, 0.25); \
         INSERT INTO partition_offsets (topic, partition, next_offset) VALUES ('user_actions', 0, 41), ('user_actions', 2, 7)",
    )
    .await
    .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let restored = recommender::replication::load(&db, &settings.recommender.model)
        .await
        .unwrap();
    assert_eq!(restored.stopped, None);
    let replica = restored.replica;
    assert_eq!((replica.n(1), replica.n(2)), (2.0, 1.0));
    // The tables held plain sums; the replica holds their logarithms.
    assert_eq!(
        (replica.popularity(1), replica.popularity(2)),
        (7.5f64.log2(), -1.0)
    );
    assert_eq!((replica.pair(1, 2), replica.pair(2, 1)), (0.75, 0.25));
    assert_eq!(
        replica
            .watermarks()
            .iter()
            .map(|(p, o)| (*p, *o))
            .collect::<Vec<_>>(),
        vec![(0, 41), (2, 7)]
    );
    let tables = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name IN ('co_counts', 'item_counts')"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tables.try_get::<i64>("", "n").unwrap(),
        0,
        "the count tables are dropped"
    );
}

#[actix_web::test]
async fn replicas_starting_together_migrate_a_fresh_database_once() {
    let settings = test_settings().await;
    let database = settings.common.database.clone();
    let starts = (0..4).map(|_| {
        let database = database.clone();
        async move {
            let db = shared::db::connect_lazy(&database).await.unwrap();
            shared::db::migrate::<Migrator>(&db, &database).await
        }
    });
    for result in futures_util::future::join_all(starts).await {
        result.expect("every replica starts");
    }
    let db = shared::db::connect_lazy(&database).await.unwrap();
    let applied = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*)::int8 AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(applied as usize, Migrator::migrations().len());
}
