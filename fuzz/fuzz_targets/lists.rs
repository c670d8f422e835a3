//! IP/CIDR lists (plain, Tor bulk exit list, Tor exit-addresses) and leaked-account lists.
#![no_main]

use idrisk::enrich::anonymous::read_list;
use idrisk::enrich::ip_set::IpSet;
use idrisk::enrich::leaked::LeakedAccounts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = IpSet::parse(&String::from_utf8_lossy(bytes));
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("list.txt");
    std::fs::write(&path, bytes).expect("written");
    let _ = read_list(&path);
    let _ = LeakedAccounts::read(std::slice::from_ref(&path));
});
