//! Provisioning into the downstream authorization server, against a real one:
//! node-oidc-provider, started by each test (`downstream_as`).

use dcr_devtools::devcerts::DevPki;
use serde_json::{json, Value};

use crate::downstream_as::{ClientIds, DownstreamAs, INITIAL_ACCESS_TOKEN};
use crate::helpers::https_client_from;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downstream_serves_registration_behind_its_initial_access_token() {
    let pki = DevPki::new("Test CA").unwrap();
    let downstream = DownstreamAs::start(&pki.ca_pem(), ClientIds::Accept).await;
    assert_eq!(
        std::fs::read_to_string(downstream.ca_file()).unwrap(),
        downstream.ca_pem()
    );
    let http = https_client_from(&downstream.ca_pem(), None, None);
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            downstream.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["registration_endpoint"],
        downstream.registration_endpoint()
    );
    assert_eq!(discovery["token_endpoint"], downstream.token_endpoint());
    let body = json!({ "client_id": "chosen-id", "jwks_uri": "https://127.0.0.1:1/jwks" });
    let refused = http
        .post(downstream.registration_endpoint())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "no initial access token");
    let created = http
        .post(downstream.registration_endpoint())
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", downstream.log());
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        created["client_id"], "chosen-id",
        "the chosen client_id is kept"
    );
    assert_eq!(downstream.count("registration_create.success"), 1);

    // One that assigns its own client_ids, started again after a crash on the same port.
    let mut assigning = DownstreamAs::new(ClientIds::Assign);
    assigning.run(&pki.ca_pem()).await;
    assigning.stop();
    assigning.run(&pki.ca_pem()).await;
    let created: Value = https_client_from(&assigning.ca_pem(), None, None)
        .post(assigning.registration_endpoint())
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(created["client_id"], "chosen-id", "{created}");
}
