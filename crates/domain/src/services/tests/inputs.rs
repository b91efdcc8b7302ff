//! Flow inputs: every violation said at once and nothing stored, attempts and engines.

use super::*;

#[tokio::test]
async fn a_flow_input_with_any_violation_stores_nothing() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut bad = input(
        csv,
        lake,
        &[("a", "SELECT * FROM b"), ("b", "SELECT * FROM a")],
    );
    bad.target_data_store_id = DataStoreId(99);
    let Err(Error::Invalid(violations)) = s.inputs.create(bad).await else {
        panic!("accepted")
    };
    let pointers: Vec<_> = violations.iter().map(|v| v.path.to_string()).collect();
    assert_eq!(pointers, ["/target_data_store_id", "/transforms/0/sql"]);
    assert_eq!(s.store.flow_input_count(), 0);
    s.inputs
        .create(input(csv, lake, &[("a", "SELECT * FROM orders")]))
        .await
        .unwrap();
    assert_eq!(s.store.flow_input_count(), 1);
}

#[tokio::test]
async fn an_input_with_too_many_entries_or_too_long_sql_is_refused_before_any_lookup() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut big = input(csv, lake, &[("a", "SELECT * FROM orders")]);
    big.sources = vec![big.sources[0].clone(); 100_000];
    big.transforms[0].sql = format!("SELECT * FROM orders WHERE 1 {}", "AND 1 ".repeat(20_000));
    let Err(Error::Invalid(violations)) = s.inputs.create(big).await else {
        panic!("accepted")
    };
    let pointers: Vec<_> = violations.iter().map(|v| v.path.to_string()).collect();
    assert_eq!(pointers, ["/sources", "/transforms/0/sql"]);
    assert_eq!(s.store.flow_input_count(), 0);
}

#[tokio::test]
async fn a_source_that_does_not_fit_its_store_is_refused() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut bad = input(csv, lake, &[("a", "SELECT * FROM orders")]);
    bad.sources[0].read = SourceRead::Query("SELECT 1".into());
    let Err(Error::Invalid(violations)) = s.inputs.create(bad).await else {
        panic!("accepted")
    };
    assert_eq!(violations[0].path.to_string(), "/sources/0/query");
}

#[tokio::test]
async fn an_input_allows_one_to_ten_attempts() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    for bad in [0, 11] {
        let mut new = input(csv, lake, &[("a", "SELECT * FROM orders")]);
        new.max_attempts = bad;
        let Err(Error::Invalid(violations)) = s.inputs.create(new).await else {
            panic!("{bad} accepted")
        };
        assert_eq!(violations[0].path.to_string(), "/max_attempts");
    }
}

#[tokio::test]
async fn ballista_is_refused_until_a_scheduler_is_configured() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut new = input(csv, lake, &[("a", "SELECT * FROM orders")]);
    new.engine = ExecutionEngine::Ballista;
    let Err(Error::Invalid(violations)) = s.inputs.create(new.clone()).await else {
        panic!("Ballista accepted with no scheduler")
    };
    assert_eq!(violations[0].path.to_string(), "/engine");
    let inputs = s.inputs.clone().with_ballista(true);
    let stored = inputs.create(new).await.unwrap();
    assert_eq!(stored.engine, ExecutionEngine::Ballista);
}

#[tokio::test]
async fn a_flow_on_ballista_reads_no_database() {
    let s = services(1, Duration::ZERO);
    let (_, lake) = stores(&s.store).await;
    let database = NewDataStore {
        name: DataStoreName::parse("shop").unwrap(),
        connection: Connection::Relational(crate::data_store::RelationalConnection::Sqlite {
            path: DataPath::parse("shop.sqlite").unwrap(),
        }),
    };
    let database = DataStoreRepository::create(&*s.store, database)
        .await
        .unwrap()
        .id;
    let mut new = input(database, lake, &[("a", "SELECT * FROM orders")]);
    new.sources[0].read = SourceRead::Table("orders".into());
    new.engine = ExecutionEngine::Ballista;
    let inputs = s.inputs.clone().with_ballista(true);
    let Err(Error::Invalid(violations)) = inputs.create(new.clone()).await else {
        panic!("a database source accepted on Ballista")
    };
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path.to_string(), "/sources/0/data_store_id");
    assert!(
        violations[0]
            .message
            .contains("'shop' is a relational database")
    );
    new.engine = ExecutionEngine::Local;
    inputs.create(new).await.unwrap();
}
