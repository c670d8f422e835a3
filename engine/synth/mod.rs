//! The synthetic tenant generator: a month of realistic sign-ins with injected attacks and
//! ground-truth labels, written in any export shape with the side files a user would have.
//!
//! Labels are true by construction: each attack scenario states what a correct engine must
//! detect, and list-based types follow from the lists the generator writes. Nothing here
//! imports a detector.

pub mod attacks;
pub mod network;
pub mod output;
pub mod rng;
pub mod side_files;
pub mod tenant;
pub mod world;

use std::borrow::Cow;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::frame::{FrameBuilder, OutcomeCodes, Row};
use crate::ingest::values::{format_time, network_key};
use attacks::{Expected, Injection, Intelligence};
use network::Plan;
use rng::guid;
use tenant::{Event, Principal, Service, User};
use world::APPS;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub users: u32,
    pub days: u32,
    pub seed: u64,
    /// Midnight UTC of the first day, in microseconds.
    pub start: i64,
    /// Share of sign-ins that attacks add (default 0.003).
    pub attack_rate: f64,
}

impl SynthConfig {
    /// `users` × `days` from 2025-03-01 (UTC) with the default attack rate, as `idrisk
    /// synth` makes them without `--start` or `--attack-rate`.
    pub fn new(users: u32, days: u32, seed: u64) -> Self {
        SynthConfig {
            users,
            days,
            seed,
            start: 1_740_787_200_000_000,
            attack_rate: 0.003,
        }
    }
}

/// One ground-truth label: a detection a correct engine must raise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    pub scenario_id: String,
    pub scenario: String,
    pub risk_event_type: String,
    /// The sign-in; none for user-level types.
    pub request_id: Option<String>,
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub time: String,
    /// False for a right detection of something benign (an employee on an anonymous VPN).
    pub malicious: bool,
}

/// A generated tenant.
pub struct Tenant {
    pub config: SynthConfig,
    pub plan: Plan,
    pub users: Vec<User>,
    pub services: Vec<Service>,
    /// Every sign-in, sorted by time then id.
    pub events: Vec<Event>,
    pub labels: Vec<Label>,
    pub intelligence: Intelligence,
    /// What the error codes the generator writes mean (see [`world::outcome_codes`]).
    pub codes: OutcomeCodes,
}

/// Generates a tenant. The same config gives the same tenant, whatever the thread count.
pub fn generate(config: &SynthConfig) -> Tenant {
    let codes = world::outcome_codes();
    let plan = Plan::new();
    let users = tenant::make_users(config, &plan);
    let services = tenant::make_services(config);
    let t = crate::trace::span("synth: activity");
    let mut activity: Vec<Vec<Event>> = (0..config.users)
        .into_par_iter()
        .map(|u| tenant::user_activity(config, &plan, &users, u))
        .collect();
    drop(t);
    let t = crate::trace::span("synth: attacks");
    let normal: usize = activity.iter().map(Vec::len).sum();
    // Scenarios average about ten sign-ins each.
    let instances = ((normal as f64 * config.attack_rate / 10.0).ceil() as u32)
        .max(attacks::SCENARIOS.len() as u32);
    let mut injection = Injection {
        config,
        plan: &plan,
        users: &users,
        activity: &mut activity,
        expected: Vec::new(),
        intelligence: Intelligence::default(),
        attack_ids: Default::default(),
    };
    injection.run(instances);
    let Injection {
        mut expected,
        intelligence,
        attack_ids,
        ..
    } = injection;
    drop(t);
    let t = crate::trace::span("synth: sort events");
    let mut events: Vec<Event> = activity.into_iter().flatten().collect();
    events.extend(tenant::service_activity(config, &plan, &services));
    events.par_sort_unstable_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
    drop(t);
    let t = crate::trace::span("synth: labels");
    let validated = |code: i32| code == 0 || world::PASSWORD_ACCEPTED.contains(&code);
    expected.extend(attacks::label_listed(
        &events,
        &plan,
        &intelligence,
        &attack_ids,
        validated,
    ));
    let labels = write_labels(&expected, &users);
    drop(t);
    Tenant {
        config: config.clone(),
        plan,
        users,
        services,
        events,
        labels,
        intelligence,
        codes,
    }
}

fn write_labels(expected: &[Expected], users: &[User]) -> Vec<Label> {
    let mut labels: Vec<Label> = expected
        .iter()
        .map(|e| {
            let user = &users[e.user as usize];
            Label {
                scenario_id: if e.instance == u32::MAX {
                    format!("{}-list", e.scenario)
                } else {
                    format!("{}-{}", e.scenario, e.instance)
                },
                scenario: e.scenario.to_string(),
                risk_event_type: e.risk_event_type.to_string(),
                request_id: e.event.map(guid),
                user_id: Some(user.id.clone()),
                user_principal_name: Some(user.upn.clone()),
                time: format_time(e.time),
                malicious: e.malicious,
            }
        })
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| {
        a.request_id == b.request_id
            && a.risk_event_type == b.risk_event_type
            && a.user_id == b.user_id
    });
    labels
}

impl Tenant {
    /// The canonical frame of the tenant's sign-ins, as the readers would produce it from
    /// a shape that has every field.
    pub fn frame(&self) -> DataFrame {
        self.frame_of(&self.events)
    }

    /// The canonical frame of some of the tenant's events. Parts have a fixed size, not one
    /// that follows the thread count, so the frame's chunks (and the Parquet written from
    /// them) are the same on every machine.
    pub fn frame_of(&self, events: &[Event]) -> DataFrame {
        self.build_frame(events, FrameBuilder::with_capacity)
    }

    /// [`Self::frame_of`] for a frame encoded and dropped at once: recurring text is not
    /// stored once (see [`FrameBuilder::transient`]).
    pub fn transient_frame_of(&self, events: &[Event]) -> DataFrame {
        self.build_frame(events, FrameBuilder::transient)
    }

    fn build_frame(&self, events: &[Event], builder: fn(usize) -> FrameBuilder) -> DataFrame {
        const PART: usize = 1 << 16;
        const BLOCK: usize = 512;
        let parts: Vec<DataFrame> = events
            .par_chunks(PART)
            .map(|slice| {
                let mut builder = builder(slice.len());
                let mut texts = vec![EventText::default(); BLOCK];
                for block in slice.chunks(BLOCK) {
                    for (text, event) in texts.iter_mut().zip(block) {
                        text.fill(event);
                    }
                    let rows: Vec<Row<'_>> = block
                        .iter()
                        .zip(&texts)
                        .map(|(event, text)| self.row_with(event, text))
                        .collect();
                    builder.push_block(&rows);
                }
                builder.finish()
            })
            .collect();
        let mut frame = crate::frame::empty();
        for part in &parts {
            // Parts share one schema, so stacking cannot fail.
            let _ = frame.vstack_mut(part);
        }
        frame
    }

    /// The canonical row of an event: what every shape writer renders, and what a reader of
    /// a shape with every field gives back. Its ids and address are borrowed from `text`
    /// (filled for this event), so building a frame allocates nothing per row.
    pub fn row_with<'a>(&'a self, event: &Event, text: &'a EventText) -> Row<'a> {
        let net = &self.plan.networks[event.net];
        let mut row = Row {
            time: event.time,
            request_id: Some(Cow::Borrowed(text.id())),
            correlation_id: Some(Cow::Borrowed(text.correlation())),
            ip_network: Some(network_key(std::net::IpAddr::V4(event.ip.into()))),
            ip_address: Some(Cow::Borrowed(text.ip())),
            error_code: Some(event.code),
            failure_reason: failure_reason(event.code).map(Cow::Borrowed),
            event_type: Some(Cow::Borrowed(event.event_type)),
            country: Some(Cow::Borrowed(net.city.country)),
            state: Some(Cow::Borrowed(net.city.state)),
            city: Some(Cow::Borrowed(net.city.name)),
            latitude: Some(net.city.latitude),
            longitude: Some(net.city.longitude),
            asn: Some(net.asn),
            token_issuer_type: Some(Cow::Borrowed("AzureAD")),
            source_file: None,
            source_line: None,
            ..Row::default()
        };
        match event.principal {
            Principal::User(u) => {
                let user = &self.users[u as usize];
                let (app, app_id) = APPS[event.app];
                row.user_id = Some(Cow::Borrowed(&user.id));
                row.user_principal_name = Some(Cow::Borrowed(&user.upn));
                row.user_display_name = Some(Cow::Borrowed(&user.display_name));
                row.user_type = Some(Cow::Borrowed("Member"));
                row.app_display_name = Some(Cow::Borrowed(app));
                row.app_id = Some(Cow::Borrowed(app_id));
                row.resource_display_name = Some(Cow::Borrowed(app));
                row.session_id = Some(Cow::Borrowed(text.session()));
                row.authentication_requirement = Some(Cow::Borrowed("multiFactorAuthentication"));
                row.conditional_access_status = Some(Cow::Borrowed("success"));
                if let Some(device) = event.device {
                    row.operating_system = Some(device.operating_system)
                        .filter(|s| !s.is_empty())
                        .map(Cow::Borrowed);
                    row.browser = Some(Cow::Borrowed(device.browser));
                    row.user_agent = Some(Cow::Borrowed(device.user_agent));
                    row.client_app = Some(Cow::Borrowed(device.client_app));
                }
            }
            Principal::Service(k) => {
                let service = &self.services[k as usize];
                row.service_principal_id = Some(Cow::Borrowed(&service.id));
                row.service_principal_name = Some(Cow::Borrowed(&service.name));
                row.app_id = Some(Cow::Borrowed(&service.app_id));
                row.app_display_name = Some(Cow::Borrowed(&service.name));
                row.resource_display_name = Some(Cow::Borrowed("Microsoft Graph"));
                row.conditional_access_status = Some(Cow::Borrowed("notApplied"));
            }
        }
        row.derive(&self.codes);
        row
    }

    /// Calls `with` on the canonical row of `event`.
    pub fn with_row<T>(&self, event: &Event, with: impl FnOnce(&Row<'_>) -> T) -> T {
        let mut text = EventText::default();
        text.fill(event);
        with(&self.row_with(event, &text))
    }
}

/// An event's ids and address as text, formatted into fixed buffers.
#[derive(Clone)]
pub struct EventText {
    ids: [[u8; 36]; 3],
    ip: [u8; 15],
    ip_len: usize,
}

impl Default for EventText {
    fn default() -> Self {
        EventText {
            ids: [[b'0'; 36]; 3],
            ip: [b'0'; 15],
            ip_len: 0,
        }
    }
}

impl EventText {
    pub fn fill(&mut self, event: &Event) {
        for (buffer, bits) in self
            .ids
            .iter_mut()
            .zip([event.id, event.correlation, event.session])
        {
            rng::write_guid(bits, buffer);
        }
        self.ip_len = rng::write_ipv4(event.ip, &mut self.ip);
    }

    fn text(bytes: &[u8]) -> &str {
        // Only ASCII hex digits, dashes, dots and decimal digits are ever written here.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    pub fn id(&self) -> &str {
        Self::text(&self.ids[0])
    }

    pub fn correlation(&self) -> &str {
        Self::text(&self.ids[1])
    }

    pub fn session(&self) -> &str {
        Self::text(&self.ids[2])
    }

    pub fn ip(&self) -> &str {
        Self::text(&self.ip[..self.ip_len])
    }
}

/// The failure reason Entra writes for an error code; none for success.
pub fn failure_reason(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => return None,
        50126 => "Error validating credentials due to invalid username or password.",
        50034 => "The user account does not exist in the directory.",
        50053 => "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        50055 => "Invalid password, entered expired password.",
        50074 => "Strong Authentication is required.",
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
        50125 => "Sign-in was interrupted due to a password reset or password registration entry.",
        50140 => "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
        70044 => "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
        7_000_215 => "Invalid client secret is provided.",
        _ => "Other.",
    })
}
