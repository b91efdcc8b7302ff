//! Data stores and flow inputs: round trips, names, pages, revisions, versions.

use super::*;

pub(crate) async fn data_stores_round_trip_and_keep_their_password<S: StatePorts>(store: &S) {
    let server = NewDataStore {
        name: DataStoreName::parse("warehouse").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerKind::Postgres,
            host: "db.internal".into(),
            port: 5433,
            user: "etl".into(),
            password: Some("s3cr3t".to_owned().into()),
            database: "sales".into(),
            password_unreadable: None,
        })),
    };
    let created = DataStoreRepository::create(store, server).await.unwrap();
    let read = DataStoreRepository::get(store, created.id).await.unwrap();
    let Connection::Relational(RelationalConnection::Server(server)) = read.connection else {
        panic!("kind changed")
    };
    assert_eq!(
        (
            server.host.as_str(),
            server.port,
            server.user.as_str(),
            server.database.as_str()
        ),
        ("db.internal", 5433, "etl", "sales")
    );
    assert_eq!(server.password.unwrap().expose_secret(), "s3cr3t");

    let file = DataStoreRepository::create(store, file_store("orders"))
        .await
        .unwrap();
    let Connection::File { path, format } = DataStoreRepository::get(store, file.id)
        .await
        .unwrap()
        .connection
    else {
        panic!("kind changed")
    };
    assert_eq!((path.as_str(), format), ("in/orders.csv", FileFormat::Csv));
}

pub(crate) async fn a_taken_name_is_a_conflict_and_unknown_ids_are_not_found<S: StatePorts>(
    store: &S,
) {
    DataStoreRepository::create(store, file_store("orders"))
        .await
        .unwrap();
    let again = DataStoreRepository::create(store, file_store("orders")).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert!(matches!(
        DataStoreRepository::get(store, DataStoreId(999)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        FlowInputRepository::get(store, FlowInputId(999)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        FlowRepository::get(store, FlowId(999)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        FlowRepository::create(store, FlowInputId(999), None).await,
        Err(Error::NotFound { .. })
    ));
}

pub(crate) async fn data_stores_list_in_id_order_by_page<S: StatePorts>(store: &S) {
    for i in 0..5 {
        DataStoreRepository::create(store, file_store(&format!("s{i}")))
            .await
            .unwrap();
    }
    let page = DataStoreRepository::list(store, Page::new(Some(2), Some(1)).unwrap())
        .await
        .unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["s1", "s2"]);
    let newest = Page::keyset(Some(2), None).unwrap().newest_first(true);
    let page = DataStoreRepository::list(store, newest).await.unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["s4", "s3"]);
    let below = Page::keyset(Some(2), Some(page[1].id.0))
        .unwrap()
        .newest_first(true);
    let page = DataStoreRepository::list(store, below).await.unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["s2", "s1"]);
    assert_eq!(DataStoreRepository::count(store).await.unwrap(), 5);
}

pub(crate) async fn a_connection_is_replaced_from_its_revision_and_of_racing_changes_one_wins<
    S: StatePorts,
>(
    store: &S,
) {
    let created = DataStoreRepository::create(store, file_store("s"))
        .await
        .unwrap();
    assert_eq!(created.revision, 0);
    let other = file_store("t").connection;
    let changed = DataStoreRepository::replace_connection(store, created.id, 0, other.clone())
        .await
        .unwrap();
    assert_eq!(changed.revision, 1);
    assert!(matches!(
        DataStoreRepository::replace_connection(store, created.id, 0, other.clone()).await,
        Err(Error::Stale { .. })
    ));
    assert!(matches!(
        DataStoreRepository::replace_connection(store, DataStoreId(999), 0, other.clone()).await,
        Err(Error::NotFound { .. })
    ));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let other = other.clone();
            tokio::spawn(async move {
                DataStoreRepository::replace_connection(&store, created.id, 1, other).await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(store) => {
                assert_eq!(store.revision, 2);
                won += 1;
            }
            Err(Error::Stale { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1, "exactly one change made from revision 1 wins");
}

pub(crate) async fn flow_inputs_round_trip<S: StatePorts>(store: &S) {
    let id = flow_input(store).await;
    let input = FlowInputRepository::get(store, id).await.unwrap();
    assert_eq!(input.sources[0].alias, table("orders"));
    assert_eq!(input.sources[0].read, SourceRead::File);
    assert_eq!(input.transforms[0].sql, "SELECT * FROM orders");
    assert_eq!(input.outputs[0].mode, WriteMode::Replace);
    assert_eq!(input.engine, ExecutionEngine::Ballista);
}

pub(crate) async fn flow_inputs_list_by_name_with_their_versions<S: StatePorts>(store: &S) {
    let id = flow_input(store).await;
    let template = FlowInputRepository::get(store, id).await.unwrap();
    let new = |name: &str| NewFlowInput {
        name: Some(FlowInputName::parse(name).unwrap()),
        target_data_store_id: template.target_data_store_id,
        sources: template.sources.clone(),
        transforms: template.transforms.clone(),
        outputs: template.outputs.clone(),
        max_attempts: 1,
        engine: ExecutionEngine::Local,
    };
    // `a_b` would match `aXb` under LIKE, and `Ab` `ab` under SQLite's LIKE: neither is a prefix.
    for name in ["a_b-report", "aXb-report", "Ab-report", "a_b-daily"] {
        FlowInputRepository::create(store, new(name)).await.unwrap();
    }
    let name = FlowInputName::parse("a_b-report").unwrap();
    FlowInputRepository::add_version(store, &name, new("a_b-report"))
        .await
        .unwrap();
    FlowInputRepository::add_version(store, &name, new("a_b-report"))
        .await
        .unwrap();

    let all = FlowInputRepository::list(store, "", Page::keyset(None, None).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = all.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(
        names[1..],
        ["a_b-report", "aXb-report", "Ab-report", "a_b-daily"]
    );
    let report = &all[1];
    assert_eq!((report.latest_version, report.versions), (3, 3));
    assert!(report.updated_utc >= report.created_utc);

    let prefixed = FlowInputRepository::list(store, "a_b", Page::keyset(None, None).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = prefixed.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["a_b-report", "a_b-daily"]);

    // A page after the first name holds the rest, in order, whatever versions came since.
    let page = Page::keyset(Some(2), Some(report.first_id.0)).unwrap();
    let next = FlowInputRepository::list(store, "", page).await.unwrap();
    let names: Vec<String> = next.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["aXb-report", "Ab-report"]);

    // Newest name first, and the page below a name.
    let newest = Page::keyset(Some(2), None).unwrap().newest_first(true);
    let page = FlowInputRepository::list(store, "a_b", newest)
        .await
        .unwrap();
    let names: Vec<String> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["a_b-daily", "a_b-report"]);
    let below = Page::keyset(Some(10), Some(all[3].first_id.0))
        .unwrap()
        .newest_first(true);
    let page = FlowInputRepository::list(store, "", below).await.unwrap();
    let names: Vec<String> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names[..2], ["aXb-report", "a_b-report"]);
    assert_eq!(FlowInputRepository::count(store, "a_b").await.unwrap(), 2);
    assert_eq!(FlowInputRepository::count(store, "").await.unwrap(), 5);
}
