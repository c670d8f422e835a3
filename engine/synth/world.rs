//! The synthetic world: real cities (name, region, country, coordinates, UTC offset), the
//! networks that serve them, and the places attackers and travellers come from.
//!
//! Coordinates are the cities' published centres, rounded; UTC offsets are standard time
//! (daylight saving is ignored: an hour of drift in working hours changes nothing here).

use crate::frame::OutcomeCodes;

/// A city users live in, travel to or attack from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct City {
    pub name: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    /// Standard-time offset from UTC, in hours.
    pub utc_offset: i32,
}

const fn city(
    name: &'static str,
    state: &'static str,
    country: &'static str,
    latitude: f64,
    longitude: f64,
    utc_offset: i32,
) -> City {
    City {
        name,
        state,
        country,
        latitude,
        longitude,
        utc_offset,
    }
}

/// Error codes the generator writes whose sign-in got the password right: the flow was
/// interrupted after it (an MFA prompt, "keep me signed in", an expired or reset password).
/// These are what the codes mean in Entra's documentation, facts of the world this
/// generator simulates; no threshold or rules list is read.
pub const PASSWORD_ACCEPTED: &[i32] = &[50055, 50074, 50076, 50125, 50140];

/// Error codes the generator writes for a wrong password or an unknown user.
pub const PASSWORD_REJECTED: &[i32] = &[50126, 50034, 50053];

/// The outcome classes of the codes above, for the canonical frame's derived columns.
pub fn outcome_codes() -> OutcomeCodes {
    OutcomeCodes::of(PASSWORD_REJECTED, PASSWORD_ACCEPTED)
}

/// Cities the tenant's users live in: an international company with offices in Europe, the
/// Americas, Asia-Pacific and Africa. Neighbouring-country pairs (Copenhagen–Malmö,
/// Geneva–Annemasse, Strasbourg–Kehl, Vienna–Bratislava) are here on purpose: commuters
/// cross those borders daily, and a detector must not mistake that for travel.
pub const HOME_CITIES: &[City] = &[
    city("Oslo", "Oslo", "NO", 59.91, 10.75, 1),
    city("Stockholm", "Stockholm County", "SE", 59.33, 18.07, 1),
    city("Copenhagen", "Capital Region", "DK", 55.68, 12.57, 1),
    city("Malmö", "Skåne County", "SE", 55.60, 13.00, 1),
    city("Helsinki", "Uusimaa", "FI", 60.17, 24.94, 2),
    city("London", "England", "GB", 51.51, -0.13, 0),
    city("Manchester", "England", "GB", 53.48, -2.24, 0),
    city("Dublin", "Leinster", "IE", 53.35, -6.26, 0),
    city("Paris", "Île-de-France", "FR", 48.86, 2.35, 1),
    city("Lyon", "Auvergne-Rhône-Alpes", "FR", 45.76, 4.84, 1),
    city("Strasbourg", "Grand Est", "FR", 48.57, 7.75, 1),
    city("Kehl", "Baden-Württemberg", "DE", 48.57, 7.82, 1),
    city("Geneva", "Geneva", "CH", 46.20, 6.14, 1),
    city("Annemasse", "Auvergne-Rhône-Alpes", "FR", 46.19, 6.24, 1),
    city("Zurich", "Zurich", "CH", 47.37, 8.54, 1),
    city("Berlin", "Berlin", "DE", 52.52, 13.40, 1),
    city("Munich", "Bavaria", "DE", 48.14, 11.58, 1),
    city("Amsterdam", "North Holland", "NL", 52.37, 4.90, 1),
    city("Brussels", "Brussels", "BE", 50.85, 4.35, 1),
    city("Madrid", "Madrid", "ES", 40.42, -3.70, 1),
    city("Barcelona", "Catalonia", "ES", 41.39, 2.17, 1),
    city("Lisbon", "Lisbon", "PT", 38.72, -9.14, 0),
    city("Milan", "Lombardy", "IT", 45.46, 9.19, 1),
    city("Vienna", "Vienna", "AT", 48.21, 16.37, 1),
    city("Bratislava", "Bratislava Region", "SK", 48.15, 17.11, 1),
    city("Warsaw", "Masovian", "PL", 52.23, 21.01, 1),
    city("Prague", "Prague", "CZ", 50.08, 14.44, 1),
    city("New York", "New York", "US", 40.71, -74.01, -5),
    city("Boston", "Massachusetts", "US", 42.36, -71.06, -5),
    city(
        "Washington, D.C.",
        "District of Columbia",
        "US",
        38.91,
        -77.04,
        -5,
    ),
    city("Chicago", "Illinois", "US", 41.88, -87.63, -6),
    city("Austin", "Texas", "US", 30.27, -97.74, -6),
    city("Denver", "Colorado", "US", 39.74, -104.99, -7),
    city("Seattle", "Washington", "US", 47.61, -122.33, -8),
    city("San Francisco", "California", "US", 37.77, -122.42, -8),
    city("Toronto", "Ontario", "CA", 43.65, -79.38, -5),
    city("Vancouver", "British Columbia", "CA", 49.28, -123.12, -8),
    city("Mexico City", "Mexico City", "MX", 19.43, -99.13, -6),
    city("São Paulo", "São Paulo", "BR", -23.55, -46.63, -3),
    city("Buenos Aires", "Buenos Aires", "AR", -34.60, -58.38, -3),
    city("Bogotá", "Bogotá", "CO", 4.71, -74.07, -5),
    city("Tokyo", "Tokyo", "JP", 35.68, 139.69, 9),
    city("Seoul", "Seoul", "KR", 37.57, 126.98, 9),
    city("Singapore", "Singapore", "SG", 1.35, 103.82, 8),
    city("Bengaluru", "Karnataka", "IN", 12.97, 77.59, 5),
    city("Mumbai", "Maharashtra", "IN", 19.08, 72.88, 5),
    city("Sydney", "New South Wales", "AU", -33.87, 151.21, 10),
    city("Melbourne", "Victoria", "AU", -37.81, 144.96, 10),
    city("Auckland", "Auckland", "NZ", -36.85, 174.76, 12),
    city("Dubai", "Dubai", "AE", 25.20, 55.27, 4),
    city("Johannesburg", "Gauteng", "ZA", -26.20, 28.05, 2),
    city("Nairobi", "Nairobi County", "KE", -1.29, 36.82, 3),
    city("Lagos", "Lagos", "NG", 6.52, 3.38, 1),
];

/// Cities attackers operate from (hosting, bulletproof providers, residential botnets).
pub const ATTACKER_CITIES: &[City] = &[
    city("Moscow", "Moscow", "RU", 55.76, 37.62, 3),
    city(
        "Saint Petersburg",
        "Saint Petersburg",
        "RU",
        59.93,
        30.36,
        3,
    ),
    city("Beijing", "Beijing", "CN", 39.90, 116.41, 8),
    city("Shenzhen", "Guangdong", "CN", 22.54, 114.06, 8),
    city("Pyongyang", "Pyongyang", "KP", 39.04, 125.76, 9),
    city("Tehran", "Tehran", "IR", 35.69, 51.39, 3),
    city("Hanoi", "Hanoi", "VN", 21.03, 105.85, 7),
    city("Jakarta", "Jakarta", "ID", -6.21, 106.85, 7),
    city("Bucharest", "Bucharest", "RO", 44.43, 26.10, 2),
    city("Kyiv", "Kyiv City", "UA", 50.45, 30.52, 2),
    city("Minsk", "Minsk", "BY", 53.90, 27.56, 3),
    city("Almaty", "Almaty", "KZ", 43.24, 76.89, 5),
    city("Lima", "Lima", "PE", -12.05, -77.04, -5),
    city("Caracas", "Capital District", "VE", 10.48, -66.90, -4),
];

/// Where mobile carriers' addresses geolocate: a national hub far from most subscribers.
pub const CARRIER_HUBS: &[City] = &[
    city("Frankfurt am Main", "Hesse", "DE", 50.11, 8.68, 1),
    city("Kansas City", "Missouri", "US", 39.10, -94.58, -6),
    city("Chennai", "Tamil Nadu", "IN", 13.08, 80.27, 5),
    city("Perth", "Western Australia", "AU", -31.95, 115.86, 8),
    city("Osaka", "Osaka", "JP", 34.69, 135.50, 9),
    city("Rio de Janeiro", "Rio de Janeiro", "BR", -22.91, -43.17, -3),
];

/// In-flight Wi-Fi providers' headquarters: where their satellite links geolocate, wherever
/// the aircraft is.
pub const IN_FLIGHT_PROVIDERS: &[City] = &[
    city("Carlsbad", "California", "US", 33.16, -117.35, -8),
    city("London", "England", "GB", 51.51, -0.13, 0),
];

/// Where cloud token-refresh traffic egresses (non-interactive sign-ins from Microsoft's
/// own services and carrier proxies).
pub const CLOUD_EGRESS: &[City] = &[
    city("Boydton", "Virginia", "US", 36.67, -78.39, -5),
    city("Dublin", "Leinster", "IE", 53.35, -6.26, 0),
    city("Amsterdam", "North Holland", "NL", 52.37, 4.90, 1),
    city("Singapore", "Singapore", "SG", 1.35, 103.82, 8),
    city("San Antonio", "Texas", "US", 29.42, -98.49, -6),
];

/// Great-circle distance between two cities, in kilometres.
pub fn distance_km(a: &City, b: &City) -> f64 {
    crate::geo::distance_km(a.latitude, a.longitude, b.latitude, b.longitude)
}

/// A device as events carry it: a reference to its profile, so an event stays small (tens
/// of millions are generated, sorted and moved).
pub type Device = &'static DeviceProfile;

/// A device profile: what the log's `deviceDetail` and `userAgent` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceProfile {
    pub operating_system: &'static str,
    pub browser: &'static str,
    pub user_agent: &'static str,
    pub client_app: &'static str,
    /// A phone: signs in over the mobile carrier when away from Wi-Fi.
    pub mobile: bool,
}

const fn device(
    operating_system: &'static str,
    browser: &'static str,
    user_agent: &'static str,
    client_app: &'static str,
    mobile: bool,
) -> DeviceProfile {
    DeviceProfile {
        operating_system,
        browser,
        user_agent,
        client_app,
        mobile,
    }
}

/// A device's operating-system family: its OS name's first word, lowercased ("Windows 10"
/// and "Windows10" are both Windows).
pub fn os_family(device: Device) -> String {
    device
        .operating_system
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_lowercase()
}

/// Devices employees use (spellings as Entra logs them: not normalised).
pub static EMPLOYEE_DEVICES: &[DeviceProfile] = &[
    device("Windows 10", "Edge 122.0.2365", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.92", "Browser", false),
    device("Windows10", "Rich Client 4.40.0.0", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)", "Mobile Apps and Desktop clients", false),
    device("Windows 11", "Chrome 122.0.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Browser", false),
    device("MacOs", "Safari 17.3", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15", "Browser", false),
    device("MacOs", "Chrome 122.0.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", "Browser", false),
    device("Ios 17.3.1", "Mobile Safari 17.3", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1", "Mobile Apps and Desktop clients", true),
    device("Android 14", "Chrome Mobile 121.0", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.164 Mobile Safari/537.36", "Mobile Apps and Desktop clients", true),
    device("Linux", "Firefox 123.0", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", "Browser", false),
];

/// Devices attackers' own tooling presents (IE, scripting libraries, legacy-protocol
/// clients). Attackers also use the browsers employees use, or copy the victim's.
pub static ATTACKER_DEVICES: &[DeviceProfile] = &[
    device(
        "Windows 7",
        "IE 11.0",
        "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
        "Browser",
        false,
    ),
    device(
        "Linux",
        "Python Requests 2.31",
        "python-requests/2.31.0",
        "Other clients",
        false,
    ),
    device("", "BAV2ROPC", "BAV2ROPC", "Exchange ActiveSync", false),
    device(
        "Linux",
        "Go-http-client 1.1",
        "Go-http-client/1.1",
        "Other clients",
        false,
    ),
];

/// Applications users sign in to: (display name, app id).
pub const APPS: &[(&str, &str)] = &[
    (
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
    ),
    ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
    (
        "Office365 Shell WCSS-Client",
        "89bee1f7-5e6e-4d8a-9f3d-ecd601259da7",
    ),
    (
        "SharePoint Online Web Client Extensibility",
        "08e18876-6177-487e-b8b5-cf950c1e598c",
    ),
    ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
    (
        "Microsoft Authentication Broker",
        "29d9ed98-a469-4536-ade2-f981bc1d605e",
    ),
];

pub const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Katherine",
    "Dennis",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Radia",
    "Linus",
    "Hedy",
    "Tim",
    "Shafi",
    "Leslie",
    "Adele",
    "Niklaus",
    "Sophie",
    "Yukihiro",
    "Anita",
    "Guido",
    "Mary",
    "Bjarne",
    "Lynn",
    "Vint",
    "Jean",
    "Claude",
    "Ingrid",
    "Kristen",
    "Ole",
    "Annie",
    "Tony",
    "Martha",
    "Raj",
    "Mei",
    "Olu",
    "Chidi",
    "Aiko",
    "Lucía",
    "Mateus",
    "Søren",
    "Zofia",
    "Amara",
    "Kofi",
    "Priya",
];

pub const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Johnson",
    "Ritchie",
    "Allen",
    "Backus",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Torvalds",
    "Lamarr",
    "Berners-Lee",
    "Goldwasser",
    "Lamport",
    "Goldberg",
    "Wirth",
    "Wilson",
    "Matsumoto",
    "Borg",
    "van Rossum",
    "Shaw",
    "Stroustrup",
    "Conway",
    "Cerf",
    "Sammet",
    "Shannon",
    "Daubechies",
    "Nygaard",
    "Dahl",
    "Easley",
    "Hoare",
    "Nakamura",
    "Okafor",
    "Silva",
    "Kowalska",
    "Mensah",
    "Patel",
    "García",
    "Tanaka",
    "Andersen",
    "Nwosu",
    "Reddy",
    "Chen",
    "Haugen",
];

/// Clients of the device-code flow: (name, application id, resource name, resource id).
pub const DEVICE_CODE_CLIENTS: &[(&str, &str, &str, &str)] = &[
    (
        "Microsoft Azure CLI",
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    ),
    (
        "Microsoft Office",
        "d3590ed6-52b3-4102-aeff-aad2292ab01c",
        "Microsoft Graph",
        "00000003-0000-0000-c000-000000000000",
    ),
    (
        "Microsoft Authentication Broker",
        "29d9ed98-a469-4536-ade2-f981bc1d605e",
        "Microsoft Graph",
        "00000003-0000-0000-c000-000000000000",
    ),
    (
        "Microsoft Authentication Broker",
        "29d9ed98-a469-4536-ade2-f981bc1d605e",
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
    ),
];

/// [`DEVICE_CODE_CLIENTS`] entries by role.
pub const AZURE_CLI: u8 = 0;
pub const OFFICE_CLIENT: u8 = 1;
pub const BROKER_TO_GRAPH: u8 = 2;
pub const BROKER_TO_EXCHANGE: u8 = 3;

/// Clients of the legacy protocol family (no MFA), as the log writes them: (clientAppUsed, user
/// agent, authenticationProtocol).
pub const LEGACY_CLIENTS: &[(&str, &str, &str)] = &[
    ("IMAP4", "python-imaplib/3.11", "none"),
    ("Authenticated SMTP", "", "none"),
    (
        "Exchange Web Services",
        "ExchangeServicesClient/15.0.913",
        "none",
    ),
    ("Exchange ActiveSync", "Android-Mail/2024.01.01", "none"),
    ("POP3", "", "none"),
    ("Other clients", "BAV2ROPC", "ropc"),
];

/// True for a client app of the legacy protocol family: it sends the password alone and
/// cannot do MFA.
pub fn legacy_client(client_app: &str) -> bool {
    !matches!(client_app, "Browser" | "Mobile Apps and Desktop clients")
}

/// [`LEGACY_CLIENTS`]' SMTP entry: what printers and scanners use.
pub const SMTP_CLIENT: u8 = 1;

/// The step results Entra writes for a push notification.
pub const PUSH_APPROVED: &str = "MFA successfully completed";
pub const PUSH_DECLINED: &str = "MFA denied; user declined the authentication";
pub const PUSH_UNANSWERED: &str = "MFA denied; user did not respond to mobile app notification";
pub const PUSH_FRAUD: &str = "MFA denied; Phone App Reported Fraud";
/// The error code of a failed strong-authentication request.
pub const STRONG_AUTH_FAILED: i32 = 500121;
