//! A small deterministic random number generator (SplitMix64), so a seed gives the same
//! tenant on every platform and with every dependency version.

/// SplitMix64: fast, statistically fine for simulation, trivially seedable per stream.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// An independent stream for one part of the tenant (a user, a scenario).
    pub fn derive(seed: u64, stream: u64, index: u64) -> Self {
        let mut mixer = Rng::new(seed);
        let a = mixer.next_u64() ^ stream.wrapping_mul(0xA24B_AED4_963E_E407);
        let mut mixer = Rng::new(a);
        Rng::new(mixer.next_u64() ^ index.wrapping_mul(0x9FB2_1C65_1E98_DF25))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[low, high)`; `low` when the range is empty.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low)
    }

    /// Uniform in `[low, high)` for signed values.
    pub fn range_i64(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        low + (self.next_u64() % (high - low) as u64) as i64
    }

    /// A value between `low` and `high` whose logarithm is uniform: as many draws between
    /// 5 and 50 as between 50 and 500.
    pub fn log_uniform(&mut self, low: f64, high: f64) -> f64 {
        (low.ln() + self.unit() * (high.ln() - low.ln())).exp()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64) as usize]
    }

    pub fn index(&mut self, len: usize) -> usize {
        self.range(0, len as u64) as usize
    }

    /// A Poisson-distributed count with mean `mean` (Knuth's method; means here are small).
    pub fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut product = self.unit();
        let mut count = 0;
        while product > limit && count < 1000 {
            product *= self.unit();
            count += 1;
        }
        count
    }

    /// 128 random bits.
    pub fn bits128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A random GUID.
    pub fn guid(&mut self) -> String {
        guid(self.bits128())
    }
}

/// Formats 128 bits as a GUID in Microsoft's lowercase 8-4-4-4-12 form (version 4 bits set).
pub fn guid(bits: u128) -> String {
    let mut buffer = [0u8; 36];
    write_guid(bits, &mut buffer);
    buffer.iter().map(|&b| b as char).collect()
}

/// An IPv4 address in dotted-decimal text into a fixed buffer; returns the length. The same
/// text as `Ipv4Addr`'s `Display`, without the formatting machinery (it runs once per event).
pub fn write_ipv4(address: u32, out: &mut [u8; 15]) -> usize {
    let mut len = 0;
    for (k, octet) in address.to_be_bytes().into_iter().enumerate() {
        if k > 0 {
            out[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            out[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            out[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        out[len] = b'0' + octet % 10;
        len += 1;
    }
    len
}

/// [`guid`] into a fixed buffer, without allocating.
pub fn write_guid(bits: u128, out: &mut [u8; 36]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // The version nibble (4) and variant bits (10) make it a well-formed random GUID.
    let bits = (bits & !(0xf000u128 << 64) & !(0xc000u128 << 48))
        | (0x4000u128 << 64)
        | (0x8000u128 << 48);
    let mut nibble = 32;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
            continue;
        }
        nibble -= 1;
        *slot = HEX[((bits >> (nibble * 4)) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_what_display_writes() {
        for address in [
            0u32,
            1,
            0x0a00_0001,
            0xc0a8_6401,
            0x6464_0a09,
            u32::MAX,
            0x0100_ff0a,
        ] {
            let mut buffer = [0u8; 15];
            let len = write_ipv4(address, &mut buffer);
            let want = std::net::Ipv4Addr::from(address).to_string();
            assert_eq!(&buffer[..len], want.as_bytes());
        }
    }

    #[test]
    fn streams_are_deterministic_and_independent() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(7, 1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::derive(7, 1, 2).next_u64(),
            Rng::derive(7, 1, 3).next_u64()
        );
        assert_ne!(
            Rng::derive(7, 1, 2).next_u64(),
            Rng::derive(8, 1, 2).next_u64()
        );
    }

    #[test]
    fn guids_have_the_microsoft_shape() {
        let g = Rng::new(1).guid();
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        assert!(g
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn poisson_mean_is_close() {
        let mut rng = Rng::new(3);
        let n = 20_000;
        let total: u32 = (0..n).map(|_| rng.poisson(3.0)).sum();
        let mean = f64::from(total) / f64::from(n);
        assert!((mean - 3.0).abs() < 0.1, "{mean}");
    }
}
