//! Whether a window's pixels show anything (the "nothing painted" check of the Linux window):
//! one flat colour over the whole web view is nothing painted. Pure, over a packed image.

/// A window image as the toolkit hands it over (GdkPixbuf: rows of `rowstride` bytes, each
/// pixel `channels` bytes, red first; a fourth channel is alpha and is ignored).
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    pub pixels: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub rowstride: usize,
    pub channels: usize,
}

/// What the image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Every pixel is this one colour (RGB): the engine painted nothing (or a flat page).
    Flat([u8; 3]),
    /// At least two colours: something was painted.
    Painted,
    /// No pixels to judge (an empty area, or an image shorter than it claims).
    Unknown,
}

/// Looks at every pixel once; stops at the first that differs from the first pixel.
pub fn shown(img: Image<'_>) -> Shown {
    if img.width == 0 || img.height == 0 || img.channels < 3 {
        return Shown::Unknown;
    }
    let row_len = img.width * img.channels;
    // The last row may be shorter than the stride (GdkPixbuf does not pad it).
    let needed = (img.height - 1) * img.rowstride + row_len;
    if img.rowstride < row_len || img.pixels.len() < needed {
        return Shown::Unknown;
    }
    let first = [img.pixels[0], img.pixels[1], img.pixels[2]];
    for y in 0..img.height {
        let row = &img.pixels[y * img.rowstride..y * img.rowstride + row_len];
        if row.chunks_exact(img.channels).any(|p| p[..3] != first) {
            return Shown::Painted;
        }
    }
    Shown::Flat(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(pixels: &[u8], width: usize, height: usize, rowstride: usize) -> Image<'_> {
        Image {
            pixels,
            width,
            height,
            rowstride,
            channels: 3,
        }
    }

    #[test]
    fn one_colour_is_flat_and_two_are_painted() {
        let grey = [246u8, 245, 244].repeat(6);
        assert_eq!(shown(image(&grey, 3, 2, 9)), Shown::Flat([246, 245, 244]));
        let mut dot = grey.clone();
        dot[16] = 0; // the last pixel's blue
        assert_eq!(shown(image(&dot, 3, 2, 9)), Shown::Painted);
    }

    #[test]
    fn alpha_and_row_padding_are_not_pixels() {
        // RGBA, 2×2, stride 12 (4 bytes of padding after each row but the last).
        let mut px = vec![];
        for row in 0..2u8 {
            px.extend_from_slice(&[1, 2, 3, 255, 1, 2, 3, row * 10]);
            if row == 0 {
                px.extend_from_slice(&[9, 9, 9, 9]);
            }
        }
        let img = Image {
            pixels: &px,
            width: 2,
            height: 2,
            rowstride: 12,
            channels: 4,
        };
        assert_eq!(shown(img), Shown::Flat([1, 2, 3]));
    }

    #[test]
    fn nothing_to_look_at_is_unknown_not_flat() {
        assert_eq!(shown(image(&[], 0, 0, 0)), Shown::Unknown);
        assert_eq!(shown(image(&[1, 2, 3], 2, 1, 6)), Shown::Unknown);
        assert_eq!(shown(image(&[1, 2, 3, 4, 5, 6], 2, 1, 3)), Shown::Unknown);
    }
}
