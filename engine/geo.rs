//! Great-circle distance, shared by the detectors and the synthetic world.

/// Mean Earth radius in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Haversine distance in kilometres between two points given in degrees.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let h = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // Oslo–Stockholm ≈ 417 km, London–New York ≈ 5,570 km.
        assert!((distance_km(59.91, 10.75, 59.33, 18.07) - 417.0).abs() < 10.0);
        assert!((distance_km(51.51, -0.13, 40.71, -74.01) - 5570.0).abs() < 30.0);
        assert_eq!(distance_km(1.0, 2.0, 1.0, 2.0), 0.0);
    }
}
