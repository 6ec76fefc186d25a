import Foundation

/// Colours for figures: Okabe–Ito for categories (distinguishable with every common colour-vision
/// deficiency) and matplotlib's viridis for values (perceptually uniform, readable in greyscale).
public enum Palette {
    /// Okabe & Ito (2008), "Color Universal Design", in the order series take them: blue,
    /// vermillion, bluish green, orange, reddish purple, sky blue, black, yellow (last: weak on white).
    public static let categorical = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]

    /// The colour of series number `i` (cycling after eight).
    public static func color(_ i: Int) -> String { categorical[((i % categorical.count) + categorical.count) % categorical.count] }

    /// viridis sampled at 33 evenly spaced points of matplotlib's table (`colormaps["viridis"](i/32)`),
    /// interpolated linearly in between: within 1/255 of the full 256-entry table.
    static let viridisAnchors: [UInt32] = [
        0x440154, 0x470D60, 0x48186A, 0x482374, 0x472D7B, 0x453781, 0x424086, 0x3E4989, 0x3B528B,
        0x375B8D, 0x33638D, 0x2F6B8E, 0x2C728E, 0x297A8E, 0x26828E, 0x23898E, 0x21918C, 0x1F988B,
        0x1FA088, 0x22A785, 0x28AE80, 0x32B67A, 0x3FBC73, 0x4EC36B, 0x5EC962, 0x70CF57, 0x84D44B,
        0x98D83E, 0xADDC30, 0xC2DF23, 0xD8E219, 0xECE51B, 0xFDE725,
    ]

    /// viridis at `t` in [0, 1] (clamped; non-finite → 0) as 8-bit RGB.
    public static func viridis(_ t: Double) -> (r: UInt8, g: UInt8, b: UInt8) {
        let x = t.isFinite ? min(max(t, 0), 1) : 0
        let pos = x * Double(viridisAnchors.count - 1)
        let i = min(Int(pos), viridisAnchors.count - 2)
        let f = pos - Double(i)
        func channel(_ shift: UInt32) -> UInt8 {
            let a = Double((viridisAnchors[i] >> shift) & 0xFF), b = Double((viridisAnchors[i + 1] >> shift) & 0xFF)
            return UInt8(min(max((a + (b - a) * f).rounded(), 0), 255))
        }
        return (channel(16), channel(8), channel(0))
    }

    /// viridis at `t` as "#RRGGBB".
    public static func viridisHex(_ t: Double) -> String {
        let c = viridis(t)
        return String(format: "#%02X%02X%02X", c.r, c.g, c.b)
    }

    /// Black or white, whichever reads better on a background of colour `rgb` (WCAG relative luminance).
    static func textColor(on rgb: (r: UInt8, g: UInt8, b: UInt8)) -> String {
        func lin(_ c: UInt8) -> Double { let s = Double(c) / 255; return s <= 0.03928 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4) }
        let l = 0.2126 * lin(rgb.r) + 0.7152 * lin(rgb.g) + 0.0722 * lin(rgb.b)
        // Contrast with white (1.05 / (l + 0.05)) against contrast with black ((l + 0.05) / 0.05).
        return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? "#ffffff" : "#000000"
    }
}
