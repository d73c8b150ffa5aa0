//! Decoded pixels as the engine sees them: 8- or 16-bit, 1 to 4 channels, no GStreamer or
//! `image` types, so the film element can hand frames in the same way the runner hands photos.

/// Pixel samples, interleaved, row-major, tightly packed.
#[derive(Clone, Debug, PartialEq)]
pub enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// A decoded image. `channels`: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
#[derive(Clone, Debug, PartialEq)]
pub struct Photo {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub samples: Samples,
}

impl Photo {
    pub fn has_alpha(&self) -> bool {
        self.channels == 2 || self.channels == 4
    }

    pub fn bit_depth(&self) -> u32 {
        match self.samples {
            Samples::U8(_) => 8,
            Samples::U16(_) => 16,
        }
    }

    pub fn pixel_count(&self) -> usize {
        self.width * self.height
    }
}

/// Integer sample types the recipe accepts.
pub trait Sample: Copy + Send + Sync + 'static {
    const MAX: u32;
    fn index(self) -> usize;
    /// Per-value tables, built once per process (65536 entries for 16-bit).
    fn tables() -> &'static SampleTables;
}

/// Everything the recipe needs to know about each possible sample value.
pub struct SampleTables {
    /// `v / MAX` as the reference computes it (see [`unit_table`]).
    pub unit: Vec<f32>,
    /// Fixed-point Lab table coordinate of the value.
    pub coord: Vec<u16>,
    /// L of a grey pixel of this value: grey pixels need no interpolation.
    pub grey_l: Vec<f32>,
}

impl SampleTables {
    fn build<T: Sample>() -> Self {
        let unit = unit_table::<T>();
        let coord: Vec<u16> = unit
            .iter()
            .map(|&v| crate::picture::lab::lab_coord(v) as u16)
            .collect();
        let grey_l = coord
            .iter()
            .map(|&k| crate::picture::lab::l_from_coords(k as i32, k as i32, k as i32))
            .collect();
        Self {
            unit,
            coord,
            grey_l,
        }
    }
}

impl Sample for u8 {
    const MAX: u32 = 255;
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
    fn tables() -> &'static SampleTables {
        static T: std::sync::OnceLock<SampleTables> = std::sync::OnceLock::new();
        T.get_or_init(SampleTables::build::<u8>)
    }
}

impl Sample for u16 {
    const MAX: u32 = 65535;
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
    fn tables() -> &'static SampleTables {
        static T: std::sync::OnceLock<SampleTables> = std::sync::OnceLock::new();
        T.get_or_init(SampleTables::build::<u16>)
    }
}

/// The float value of every sample value, `(v / MAX)` computed in double and rounded to float,
/// as `(img / 255.0).astype(np.float32)` does in the reference.
pub fn unit_table<T: Sample>() -> Vec<f32> {
    (0..=T::MAX)
        .map(|v| (v as f64 / T::MAX as f64) as f32)
        .collect()
}
