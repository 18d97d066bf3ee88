//! The simulator's operations: opening and persisting its data, issuing SSAs, changing
//! statuses, serving the status lists, and notifying Data Holders.

use super::*;

impl Simulator {
    /// Opens the simulator on a data file (created when missing; `None`: in memory only),
    /// generating and persisting the Register's signing key on first start.
    ///
    /// # Errors
    /// An unreadable data file or key, or key generation failure.
    pub fn open(
        path: Option<&Path>,
        public_url: Url,
        page_size: usize,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let mut data: SimData = match path {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            _ => SimData::default(),
        };
        let key = match &data.signing_key {
            Some(k) => SigningKey::from_pkcs8_pem(&k.private_pem, k.kid.clone())
                .context("loading the Register signing key from the data file")?,
            None => {
                let rand = uuid::Uuid::new_v4().simple().to_string();
                let kid = format!("cdr-register-{}", &rand[..16]);
                let key = SigningKey::generate_ps256(kid.clone(), 2048)
                    .context("generating the Register signing key")?;
                data.signing_key = Some(StoredKey {
                    kid,
                    private_pem: key.to_pkcs8_pem(),
                });
                key
            }
        };
        let sim = Self {
            inner: Arc::new(Inner {
                data: Mutex::new(data),
                key,
                path: path.map(Path::to_path_buf),
                public_url,
                page_size: page_size.clamp(1, 1000),
                clock,
                outage: Mutex::new(None),
                stats: Mutex::new(Stats::default()),
                notifier: Mutex::new(None),
            }),
        };
        sim.save().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(sim)
    }

    /// Calls `targets` (Data Holders' Admin Metadata Update endpoints) after every change, with
    /// `http` (which must trust their certificates). An empty list stops the calls.
    pub fn set_notify(&self, http: reqwest::Client, targets: Vec<NotifyTarget>) {
        *lock(&self.inner.notifier) =
            (!targets.is_empty()).then(|| Arc::new(Notifier { http, targets }));
    }

    pub(super) fn save(&self) -> Result<(), SimError> {
        let Some(path) = &self.inner.path else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(&*lock(&self.inner.data))
            .map_err(|e| SimError::Internal(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&tmp, text)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                // The data file holds the Register's private key.
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            }
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| SimError::Internal(format!("saving {}: {e}", path.display())))
    }

    /// The public base URL (links, hosted `jwks_uri`s).
    #[must_use]
    pub fn public_url(&self) -> &Url {
        &self.inner.public_url
    }

    /// The Register's JWKS document.
    #[must_use]
    pub fn jwks(&self) -> Value {
        let mut jwk = self.inner.key.public_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.insert("key_ops".into(), json!(["verify"]));
        }
        json!({ "keys": [jwk] })
    }

    /// Signs claims with the Register's key (PS256, header `alg`, `kid`, `typ`).
    ///
    /// # Errors
    /// A signing failure.
    pub fn sign(&self, claims: &Value) -> Result<String, SimError> {
        self.inner
            .key
            .sign(claims)
            .map_err(|e| SimError::Internal(e.to_string()))
    }

    /// A self-signed JWT as the Register sends to a Data Holder's Admin Metadata Update endpoint
    /// `aud` (CDS client authentication: `iss` = `sub` = `cdr-register`, 5 minutes, single-use
    /// `jti`).
    ///
    /// # Errors
    /// A signing failure.
    pub fn admin_jwt(&self, aud: &str) -> Result<String, SimError> {
        let now = self.inner.clock.now();
        self.sign(&json!({
            "iss": dcr_core::ssa::CDR_REGISTER_ISSUER,
            "sub": dcr_core::ssa::CDR_REGISTER_ISSUER,
            "aud": aud,
            "iat": now,
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().simple().to_string(),
        }))
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Starts (`Some(status)`, e.g. 503) or ends (`None`) a simulated outage of the status and SSA
    /// APIs.
    pub fn set_outage(&self, status: Option<u16>) {
        *lock(&self.inner.outage) = status.filter(|s| (400..=599).contains(s));
    }

    pub(super) fn outage(&self) -> Result<(), SimError> {
        match *lock(&self.inner.outage) {
            Some(s) => {
                lock(&self.inner.stats).outage_refusals += 1;
                Err(SimError::Outage(s))
            }
            None => Ok(()),
        }
    }

    pub(super) fn hosted_jwks_uri(&self, product_id: &str) -> String {
        format!(
            "{}/recipients/{product_id}/jwks",
            self.inner.public_url.as_str().trim_end_matches('/')
        )
    }

    pub(super) fn view(&self, data: &SimData, p: &Product) -> Value {
        let recipient = data.recipients.get(&p.legal_entity_id);
        let recipient_status = recipient.map_or("ACTIVE", |r| r.status.as_str());
        json!({
            "software_product_id": p.software_product_id,
            "software_product_name": p.software_product_name,
            "software_product_description": p.software_product_description,
            "legal_entity_id": p.legal_entity_id,
            "legal_entity_name": recipient.map(|r| r.legal_entity_name.clone()),
            "recipient_status": recipient_status,
            "brand_id": p.brand_id,
            "brand_name": p.brand_name,
            "redirect_uris": p.redirect_uris,
            "jwks_uri": p.jwks_uri.clone().unwrap_or_else(|| self.hosted_jwks_uri(&p.software_product_id)),
            "hosted_jwks": p.jwks.is_some(),
            "scope": p.scope,
            "status": p.status,
            "effective_status": effective_product_status(&p.status, recipient_status),
            "ssa_url": format!(
                "{}/cdr-register/v1/all/data-recipients/brands/{}/software-products/{}/ssa",
                self.inner.public_url.as_str().trim_end_matches('/'),
                p.brand_id,
                p.software_product_id
            ),
        })
    }

    /// Every product, as the admin API shows them.
    #[must_use]
    pub fn products(&self) -> Vec<Value> {
        let data = lock(&self.inner.data);
        data.products
            .values()
            .map(|p| self.view(&data, p))
            .collect()
    }

    /// One product (matched case-insensitively).
    ///
    /// # Errors
    /// [`SimError::NotFound`].
    pub fn product(&self, id: &str) -> Result<Value, SimError> {
        let data = lock(&self.inner.data);
        let p = find_product(&data, id)?;
        Ok(self.view(&data, p))
    }

    /// Adds a product (and its recipient when new).
    ///
    /// # Errors
    /// [`SimError::Invalid`] for a bad field, [`SimError::Conflict`] for a taken id.
    pub fn add_product(&self, n: NewProduct) -> Result<Value, SimError> {
        let view = self.insert_product(n)?;
        self.notify();
        Ok(view)
    }

    pub(super) fn insert_product(&self, n: NewProduct) -> Result<Value, SimError> {
        let id = n.software_product_id.unwrap_or_else(new_guid);
        valid_id("software_product_id", &id)?;
        let name = valid_text("software_product_name", &n.software_product_name)?;
        let le = n.legal_entity_id.unwrap_or_else(new_guid);
        valid_id("legal_entity_id", &le)?;
        let brand_id = n.brand_id.unwrap_or_else(new_guid);
        valid_id("brand_id", &brand_id)?;
        let redirect_uris = n
            .redirect_uris
            .unwrap_or_else(|| vec!["https://recipient.example.com.au/callback".into()]);
        if redirect_uris.is_empty() {
            return Err(SimError::Invalid("redirect_uris must not be empty".into()));
        }
        for u in &redirect_uris {
            valid_https("redirect_uris", u)?;
        }
        if let Some(u) = &n.jwks_uri {
            valid_https("jwks_uri", u)?;
        }
        if let Some(j) = &n.jwks {
            check_jwks(j)?;
        }
        for (field, v) in [
            ("client_uri", &n.client_uri),
            ("logo_uri", &n.logo_uri),
            ("tos_uri", &n.tos_uri),
            ("policy_uri", &n.policy_uri),
            ("recipient_base_uri", &n.recipient_base_uri),
            ("sector_identifier_uri", &n.sector_identifier_uri),
        ] {
            if let Some(u) = v {
                valid_https(field, u)?;
            }
        }
        let status = valid_status(n.status.as_deref().unwrap_or("ACTIVE"))?;
        let brand_name = match n.brand_name {
            Some(b) => valid_text("brand_name", &b)?,
            None => format!("{name} Brand"),
        };
        let product = Product {
            software_product_id: id.clone(),
            software_product_description: match n.software_product_description {
                Some(d) => valid_text("software_product_description", &d)?,
                None => format!("{name}, a software product in the CDR Register simulator"),
            },
            software_product_name: name,
            legal_entity_id: le.clone(),
            brand_id,
            brand_name,
            redirect_uris,
            jwks_uri: n.jwks_uri,
            jwks: n.jwks,
            scope: n
                .scope
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SCOPE.to_string()),
            client_uri: n
                .client_uri
                .unwrap_or_else(|| "https://recipient.example.com.au".into()),
            logo_uri: n
                .logo_uri
                .unwrap_or_else(|| "https://recipient.example.com.au/logo.png".into()),
            tos_uri: n.tos_uri,
            policy_uri: n.policy_uri,
            recipient_base_uri: n
                .recipient_base_uri
                .or_else(|| Some("https://recipient.example.com.au".into())),
            sector_identifier_uri: n.sector_identifier_uri,
            revocation_uri: None,
            status,
        };
        let view = {
            let mut data = lock(&self.inner.data);
            if find_product(&data, &id).is_ok() {
                return Err(SimError::Conflict(format!(
                    "software product {id} already exists"
                )));
            }
            let le_name = n.legal_entity_name;
            let existing = data
                .recipients
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&le))
                .cloned();
            let le_key = match existing {
                Some(k) => k,
                None => {
                    let legal_entity_name = match le_name {
                        Some(s) => valid_text("legal_entity_name", &s)?,
                        None => format!("{} Pty Ltd", product.brand_name),
                    };
                    data.recipients.insert(
                        le.clone(),
                        Recipient {
                            legal_entity_id: le.clone(),
                            legal_entity_name,
                            status: "ACTIVE".into(),
                        },
                    );
                    le
                }
            };
            let mut product = product;
            product.legal_entity_id = le_key;
            data.products.insert(id.clone(), product);
            let p = data
                .products
                .get(&id)
                .ok_or_else(|| SimError::Internal("lost".into()))?;
            self.view(&data, p)
        };
        self.save()?;
        tracing::info!(software_product_id = %id, "register-sim: product added");
        Ok(view)
    }

    /// Sets a product's status (any value; the standard's are ACTIVE, INACTIVE, REMOVED).
    ///
    /// # Errors
    /// [`SimError::NotFound`], [`SimError::Invalid`].
    pub fn set_product_status(&self, id: &str, status: &str) -> Result<Value, SimError> {
        let status = valid_status(status)?;
        let view = {
            let mut data = lock(&self.inner.data);
            let key = find_product(&data, id)?.software_product_id.clone();
            if let Some(p) = data.products.get_mut(&key) {
                p.status = status.clone();
            }
            let p = find_product(&data, &key)?;
            self.view(&data, p)
        };
        self.save()?;
        tracing::info!(software_product_id = %id, %status, "register-sim: product status changed");
        self.notify();
        Ok(view)
    }

    /// Sets a recipient's status (the standard's: ACTIVE, SUSPENDED, REVOKED, SURRENDERED).
    ///
    /// # Errors
    /// [`SimError::NotFound`], [`SimError::Invalid`].
    pub fn set_recipient_status(&self, id: &str, status: &str) -> Result<Recipient, SimError> {
        let status = valid_status(status)?;
        let r = {
            let mut data = lock(&self.inner.data);
            let r = data
                .recipients
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(id))
                .map(|(_, r)| r)
                .ok_or_else(|| SimError::NotFound(format!("no data recipient {id}")))?;
            r.status = status.clone();
            r.clone()
        };
        self.save()?;
        tracing::info!(legal_entity_id = %id, %status, "register-sim: recipient status changed");
        self.notify();
        Ok(r)
    }

    /// Replaces the JWKS the simulator hosts for a product.
    ///
    /// # Errors
    /// [`SimError::NotFound`], [`SimError::Invalid`] for a document that is not a usable JWKS.
    pub fn set_product_jwks(&self, id: &str, jwks: Value) -> Result<Value, SimError> {
        check_jwks(&jwks)?;
        let view = {
            let mut data = lock(&self.inner.data);
            let key = find_product(&data, id)?.software_product_id.clone();
            if let Some(p) = data.products.get_mut(&key) {
                p.jwks = Some(jwks);
            }
            let p = find_product(&data, &key)?;
            self.view(&data, p)
        };
        self.save()?;
        Ok(view)
    }

    /// The JWKS hosted for a product.
    ///
    /// # Errors
    /// [`SimError::NotFound`].
    pub fn product_jwks(&self, id: &str) -> Result<Value, SimError> {
        let data = lock(&self.inner.data);
        find_product(&data, id)?
            .jwks
            .clone()
            .ok_or_else(|| SimError::NotFound(format!("no JWKS hosted for {id}")))
    }

    /// Adds the demo product (fixed ids) hosting `jwks`, or refreshes its hosted JWKS.
    ///
    /// # Errors
    /// As [`Simulator::add_product`].
    pub fn seed_demo(&self, jwks: Value) -> Result<(), SimError> {
        if self.product(DEMO_SOFTWARE_PRODUCT_ID).is_ok() {
            self.set_product_jwks(DEMO_SOFTWARE_PRODUCT_ID, jwks)?;
            return Ok(());
        }
        // At start-up: no Data Holder to tell yet.
        self.insert_product(NewProduct {
            software_product_id: Some(DEMO_SOFTWARE_PRODUCT_ID.into()),
            software_product_name: "Demo Budget App".into(),
            software_product_description: Some(
                "A budgeting app that reads bank accounts and transactions (demo)".into(),
            ),
            legal_entity_id: Some(DEMO_LEGAL_ENTITY_ID.into()),
            legal_entity_name: Some("Demo Recipient Pty Ltd".into()),
            brand_id: Some(DEMO_BRAND_ID.into()),
            brand_name: Some("Demo Budgeting".into()),
            redirect_uris: Some(vec!["https://demo-budgeting.example.com.au/callback".into()]),
            jwks: Some(jwks),
            client_uri: Some("https://demo-budgeting.example.com.au".into()),
            logo_uri: Some("https://demo-budgeting.example.com.au/logo.png".into()),
            tos_uri: Some("https://demo-budgeting.example.com.au/terms".into()),
            policy_uri: Some("https://demo-budgeting.example.com.au/policy".into()),
            recipient_base_uri: Some("https://demo-budgeting.example.com.au".into()),
            ..Default::default()
        })?;
        Ok(())
    }

    /// Issues an SSA for a product of a brand, as the Register does (docs/dcr-rules.md §5).
    ///
    /// # Errors
    /// [`SimError::NotFound`] for an unknown product or a brand mismatch, [`SimError::NotActive`]
    /// when the product or its recipient is not active, [`SimError::Outage`].
    pub fn issue_ssa(&self, brand_id: &str, product_id: &str) -> Result<String, SimError> {
        self.outage()?;
        let claims = {
            let data = lock(&self.inner.data);
            let p = find_product(&data, product_id)?;
            if !p.brand_id.eq_ignore_ascii_case(brand_id) {
                return Err(SimError::NotFound(format!(
                    "software product {product_id} does not belong to brand {brand_id}"
                )));
            }
            let r = data.recipients.get(&p.legal_entity_id);
            let r_status = r.map_or("ACTIVE", |r| r.status.as_str());
            let status = effective_product_status(&p.status, r_status);
            if status != "ACTIVE" || r_status != "ACTIVE" {
                lock(&self.inner.stats).ssa_refused += 1;
                return Err(SimError::NotActive(format!(
                    "software product status is {status}, data recipient status is {r_status}"
                )));
            }
            let now = self.inner.clock.now();
            let mut c = json!({
                "iss": dcr_core::ssa::CDR_REGISTER_ISSUER,
                "iat": now,
                "exp": now + SSA_LIFETIME_SECS,
                "jti": uuid::Uuid::new_v4().simple().to_string(),
                "legal_entity_id": p.legal_entity_id,
                "legal_entity_name": r.map(|r| r.legal_entity_name.clone()),
                "org_id": p.brand_id,
                "org_name": p.brand_name,
                "client_name": p.software_product_name,
                "client_description": p.software_product_description,
                "client_uri": p.client_uri,
                "redirect_uris": p.redirect_uris,
                "logo_uri": p.logo_uri,
                "jwks_uri": p.jwks_uri.clone().unwrap_or_else(|| self.hosted_jwks_uri(&p.software_product_id)),
                "software_id": p.software_product_id,
                "software_roles": dcr_core::ssa::DEFAULT_SOFTWARE_ROLES,
                "scope": p.scope,
            });
            if let Some(o) = c.as_object_mut() {
                for (k, v) in [
                    ("tos_uri", &p.tos_uri),
                    ("policy_uri", &p.policy_uri),
                    ("recipient_base_uri", &p.recipient_base_uri),
                    ("sector_identifier_uri", &p.sector_identifier_uri),
                    ("revocation_uri", &p.revocation_uri),
                ] {
                    if let Some(v) = v {
                        o.insert(k.into(), json!(v));
                    }
                }
            }
            c
        };
        let ssa = self.sign(&claims)?;
        lock(&self.inner.stats).ssa_issued += 1;
        Ok(ssa)
    }

    /// The data recipients status list: `(legalEntityId, status)`, in id order.
    #[must_use]
    pub fn recipient_statuses(&self) -> Vec<(String, String)> {
        lock(&self.inner.data)
            .recipients
            .values()
            .map(|r| (r.legal_entity_id.clone(), r.status.clone()))
            .collect()
    }

    /// The software products status list: `(softwareProductId, status after the cascade)`.
    #[must_use]
    pub fn product_statuses(&self) -> Vec<(String, String)> {
        let data = lock(&self.inner.data);
        data.products
            .values()
            .map(|p| {
                let r = data
                    .recipients
                    .get(&p.legal_entity_id)
                    .map_or("ACTIVE", |r| r.status.as_str());
                (
                    p.software_product_id.clone(),
                    effective_product_status(&p.status, r),
                )
            })
            .collect()
    }

    pub(super) fn notify(&self) {
        let Some(n) = lock(&self.inner.notifier).clone() else {
            return;
        };
        for target in &n.targets {
            let sim = self.clone();
            let http = n.http.clone();
            let NotifyTarget { url, aud } = target.clone();
            tokio::spawn(async move {
                let ok = match sim.admin_jwt(&aud) {
                    Ok(jwt) => http
                        .post(url.clone())
                        .bearer_auth(jwt)
                        .header("x-v", "1")
                        .json(&json!({"data": {"action": "REFRESH"}}))
                        .send()
                        .await
                        .map(|r| r.status()),
                    Err(e) => {
                        tracing::warn!(error = %e, "register-sim: signing a notification");
                        return;
                    }
                };
                match ok {
                    Ok(s) if s.is_success() => {
                        lock(&sim.inner.stats).notifications_sent += 1;
                        tracing::info!(%url, "register-sim: Data Holder notified");
                    }
                    Ok(s) => {
                        lock(&sim.inner.stats).notifications_failed += 1;
                        tracing::warn!(%url, status = s.as_u16(), "register-sim: notification refused");
                    }
                    Err(e) => {
                        lock(&sim.inner.stats).notifications_failed += 1;
                        tracing::warn!(%url, error = %e.without_url(), "register-sim: notification failed");
                    }
                }
            });
        }
    }
}
