//! Stored passwords: sealed at rest, and sealed again under a new key (the adapters only: the
//! fake keeps no ciphertext).

use super::*;

pub(crate) fn keyring(current: (&str, u8), previous: &[(&str, u8)]) -> Keyring {
    let previous: Vec<(String, [u8; KEY_LEN])> = previous
        .iter()
        .map(|(id, b)| ((*id).to_owned(), [*b; KEY_LEN]))
        .collect();
    Keyring::new((current.0, &[current.1; KEY_LEN]), &previous).unwrap()
}

/// What the state database itself holds in the password column.
pub(crate) async fn stored_passwords(url: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(url).await.unwrap();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT password FROM data_store WHERE password IS NOT NULL ORDER BY id",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "password").unwrap())
    .collect()
}

pub(crate) fn password_of(store: &sluice_domain::data_store::DataStore) -> String {
    let Connection::Relational(RelationalConnection::Server(server)) = &store.connection else {
        panic!("not a server store")
    };
    server.password.as_ref().unwrap().expose_secret().to_owned()
}

pub(crate) async fn passwords_are_sealed_at_rest_and_sealed_again_under_a_new_key(
    fixture: support::Fixture,
) {
    let url = fixture.url.clone();
    // A password stored before passwords were sealed.
    let plain = NewDataStore {
        name: DataStoreName::parse("legacy").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerKind::Postgres,
            host: "db".into(),
            port: 5432,
            user: "etl".into(),
            password: Some("old-plain-pw".to_owned().into()),
            database: "sales".into(),
            password_unreadable: None,
        })),
    };
    DataStoreRepository::create(&fixture.store, plain)
        .await
        .unwrap();

    let k1 = StateDatabase::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k1", 1), &[]));
    let sealed = NewDataStore {
        name: DataStoreName::parse("warehouse").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerKind::Postgres,
            host: "db".into(),
            port: 5432,
            user: "etl".into(),
            password: Some("s3cr3t-at-rest".to_owned().into()),
            database: "sales".into(),
            password_unreadable: None,
        })),
    };
    let created = DataStoreRepository::create(&k1, sealed).await.unwrap();
    let raw = stored_passwords(&url).await;
    assert_eq!(raw[0], "old-plain-pw");
    assert!(raw[1].starts_with("sluice-sealed:v1:k1:"), "{raw:?}");
    assert!(!raw[1].contains("s3cr3t"), "{raw:?}");
    assert_eq!(
        password_of(&DataStoreRepository::get(&k1, created.id).await.unwrap()),
        "s3cr3t-at-rest"
    );
    assert_eq!(
        password_of(&DataStoreRepository::get(&k1, DataStoreId(1)).await.unwrap()),
        "old-plain-pw"
    );

    // Rotating: k2 seals, k1 still opens; every password is sealed again under k2.
    let k2 = StateDatabase::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k2", 2), &[("k1", 1)]));
    assert_eq!(k2.reseal_passwords().await.unwrap(), 2);
    assert_eq!(
        k2.reseal_passwords().await.unwrap(),
        0,
        "nothing left to seal"
    );
    let raw = stored_passwords(&url).await;
    assert!(
        raw.iter().all(|p| p.starts_with("sluice-sealed:v1:k2:")),
        "{raw:?}"
    );
    let only_k2 = StateDatabase::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k2", 2), &[]));
    assert_eq!(
        password_of(
            &DataStoreRepository::get(&only_k2, created.id)
                .await
                .unwrap()
        ),
        "s3cr3t-at-rest"
    );
    assert_eq!(
        password_of(
            &DataStoreRepository::get(&only_k2, DataStoreId(1))
                .await
                .unwrap()
        ),
        "old-plain-pw"
    );
    let only_k1 = StateDatabase::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k1", 1), &[]));
    // A password that does not open leaves the store readable, saying why it does not open.
    let store = DataStoreRepository::get(&only_k1, created.id)
        .await
        .unwrap();
    let Connection::Relational(RelationalConnection::Server(server)) = &store.connection else {
        panic!("{store:?}");
    };
    assert!(server.password.is_none());
    let reason = server.password_unreadable.as_deref().unwrap_or_default();
    assert!(reason.contains("key 'k2'"), "{reason}");
    drop((k1, k2, only_k1, only_k2));
    fixture.finish().await;
}

#[tokio::test]
pub(crate) async fn passwords_are_sealed_at_rest_on_sqlite() {
    passwords_are_sealed_at_rest_and_sealed_again_under_a_new_key(support::sqlite().await).await;
}

#[tokio::test]
pub(crate) async fn passwords_are_sealed_at_rest_on_postgres() {
    passwords_are_sealed_at_rest_and_sealed_again_under_a_new_key(support::postgres().await).await;
}
