//! The radio parameters of the supported RF regions (LoRaWAN Regional Parameters RP002-1.0.x):
//! data rates, the RX1 and RX2 windows, and the `router_config` a LoRa Basics Station gets.
//! EU868 and US915 (sub-band 2, the channels AWS's US915 gateways use by default) are modeled;
//! every other `RfRegion` is served EU868's parameters (a documented limitation).

use serde_json::{json, Value};

/// An RF region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Eu868,
    Us915,
}

impl Region {
    /// The region of a gateway's or device profile's `RfRegion`.
    pub fn of(rf_region: &str) -> Region {
        if rf_region.eq_ignore_ascii_case("US915") {
            Region::Us915
        } else {
            Region::Eu868
        }
    }

    /// Spreading factor and bandwidth (kHz) of an uplink data rate.
    pub fn data_rate(self, dr: u8) -> Option<(u8, u32)> {
        match (self, dr) {
            (Region::Eu868, 0..=5) => Some((12 - dr, 125)),
            (Region::Eu868, 6) => Some((7, 250)),
            (Region::Us915, 0..=3) => Some((10 - dr, 125)),
            (Region::Us915, 4) => Some((8, 500)),
            (Region::Us915, 8..=13) => Some((20 - dr, 500)),
            _ => None,
        }
    }

    /// RX1 frequency and data rate for an uplink (RX1DROffset 0).
    pub fn rx1(self, up_freq: u32, up_dr: u8) -> (u32, u8) {
        match self {
            Region::Eu868 => (up_freq, up_dr),
            Region::Us915 => {
                let channel = if up_freq >= 903_000_000 && (up_freq - 903_000_000).is_multiple_of(1_600_000) {
                    64 + (up_freq - 903_000_000) / 1_600_000
                } else {
                    up_freq.saturating_sub(902_300_000) / 200_000
                };
                (923_300_000 + (channel % 8) * 600_000, 10 + up_dr.min(3))
            }
        }
    }

    /// RX2 data rate and frequency (the regional defaults).
    pub fn rx2(self) -> (u8, u32) {
        match self {
            Region::Eu868 => (0, 869_525_000),
            Region::Us915 => (8, 923_300_000),
        }
    }

    /// The join-accept's DLSettings: RX1DROffset 0 and the RX2 data rate.
    pub fn dl_settings(self) -> u8 {
        self.rx2().0 & 0x0f
    }

    /// The `router_config` message (Basics Station LNS protocol) for a gateway of this region:
    /// the channel plan, no NetID or JoinEUI filter.
    pub fn router_config(self, mux_time: f64) -> Value {
        let multi_sf = |radio: u8, offset: i32| json!({"enable": true, "radio": radio, "if": offset});
        let (region, freq_range, drs, conf) = match self {
            Region::Eu868 => (
                "EU863",
                [863_000_000, 870_000_000],
                json!([
                    [12, 125, 0],
                    [11, 125, 0],
                    [10, 125, 0],
                    [9, 125, 0],
                    [8, 125, 0],
                    [7, 125, 0],
                    [7, 250, 0],
                    [0, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0]
                ]),
                json!({
                    "radio_0": {"enable": true, "freq": 867_500_000},
                    "radio_1": {"enable": true, "freq": 868_500_000},
                    "chan_multiSF_0": multi_sf(1, -400_000), "chan_multiSF_1": multi_sf(1, -200_000),
                    "chan_multiSF_2": multi_sf(1, 0), "chan_multiSF_3": multi_sf(0, -400_000),
                    "chan_multiSF_4": multi_sf(0, -200_000), "chan_multiSF_5": multi_sf(0, 0),
                    "chan_multiSF_6": multi_sf(0, 200_000), "chan_multiSF_7": multi_sf(0, 400_000),
                    "chan_Lora_std": {"enable": true, "radio": 1, "if": -200_000, "bandwidth": 250_000, "spread_factor": 7},
                    "chan_FSK": {"enable": true, "radio": 1, "if": 300_000}
                }),
            ),
            Region::Us915 => (
                "US902",
                [902_000_000, 928_000_000],
                json!([
                    [10, 125, 0],
                    [9, 125, 0],
                    [8, 125, 0],
                    [7, 125, 0],
                    [8, 500, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [-1, 0, 0],
                    [12, 500, 1],
                    [11, 500, 1],
                    [10, 500, 1],
                    [9, 500, 1],
                    [8, 500, 1],
                    [7, 500, 1],
                    [-1, 0, 0],
                    [-1, 0, 0]
                ]),
                json!({
                    "radio_0": {"enable": true, "freq": 904_300_000},
                    "radio_1": {"enable": true, "freq": 905_000_000},
                    "chan_multiSF_0": multi_sf(0, -400_000), "chan_multiSF_1": multi_sf(0, -200_000),
                    "chan_multiSF_2": multi_sf(0, 0), "chan_multiSF_3": multi_sf(0, 200_000),
                    "chan_multiSF_4": multi_sf(1, -300_000), "chan_multiSF_5": multi_sf(1, -100_000),
                    "chan_multiSF_6": multi_sf(1, 100_000), "chan_multiSF_7": multi_sf(1, 300_000),
                    "chan_Lora_std": {"enable": true, "radio": 0, "if": 300_000, "bandwidth": 500_000, "spread_factor": 8},
                    "chan_FSK": {"enable": false}
                }),
            ),
        };
        json!({
            "msgtype": "router_config",
            "NetID": null,
            "JoinEui": null,
            "region": region,
            "hwspec": "sx1301/1",
            "freq_range": freq_range,
            "DRs": drs,
            "sx1301_conf": [conf],
            "nocca": true,
            "nodc": true,
            "nodwell": true,
            "MuxTime": mux_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_regional_parameters() {
        assert_eq!(Region::of("EU868").rx1(868_100_000, 5), (868_100_000, 5));
        assert_eq!(Region::of("EU868").data_rate(5), Some((7, 125)));
        let us = Region::of("us915");
        assert_eq!(us.rx1(903_900_000, 0), (923_300_000, 10), "channel 8 answers on downlink channel 0");
        assert_eq!(us.rx1(904_100_000, 2), (923_900_000, 12));
        assert_eq!(us.rx1(904_600_000, 4), (923_900_000, 13), "500 kHz channel 65 answers on channel 1");
        assert_eq!(us.rx2(), (8, 923_300_000));
        assert_eq!(Region::Eu868.router_config(1.5)["DRs"].as_array().unwrap().len(), 16);
    }
}
