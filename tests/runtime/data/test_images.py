"""Every odd image a user may send decodes to correct RGB pixels or raises ImageError."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from captioner.runtime.data.images import load_image
from captioner.errors import ImageError


def _bytes(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def test_real_flickr_photo_is_rgb(flickr_images):
    image = load_image(flickr_images[0])
    assert image.mode == "RGB" and image.size == (224, 224)


def test_rgba_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    out = np.asarray(load_image(_bytes(rgba, "PNG")))
    assert tuple(out[0, 0]) == (0, 0, 255) and tuple(out[3, 3]) == (255, 255, 255)


def test_palette_grayscale_and_cmyk():
    pal = Image.new("RGB", (4, 4), (0, 128, 0)).convert("P", palette=Image.ADAPTIVE)
    assert tuple(np.asarray(load_image(_bytes(pal, "PNG")))[1, 1]) == (0, 128, 0)
    gray = Image.new("L", (4, 4), 77)
    assert tuple(np.asarray(load_image(_bytes(gray, "PNG")))[1, 1]) == (77, 77, 77)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    r, g, b = np.asarray(load_image(_bytes(cmyk, "JPEG", quality=95)))[4, 4]
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_is_rescaled_not_clipped():
    deep = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    assert deep.mode.startswith("I;16")
    value = np.asarray(load_image(_bytes(deep, "PNG")))[0, 0, 0]
    assert 125 <= value <= 130


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (6, 6), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = _bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    r, g, b = np.asarray(load_image(data))[2, 2]
    assert r > 200 and b < 60


def test_exif_orientation_is_applied():
    wide = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = load_image(_bytes(wide, "JPEG", exif=exif.tobytes()))
    assert image.size == (20, 40)


@pytest.mark.parametrize("orientation, top, bottom", [
    (1, "red", "red"),  # as stored: red left, blue right (top and bottom rows both start red)
    (6, "red", "blue"),  # turned clockwise to display: the left side goes to the top
    (8, "blue", "red"),  # turned counter-clockwise: the right side goes to the top
    (3, "blue", "blue"),  # upside down: blue is now on the left
])
def test_exif_rotation_goes_the_right_way(orientation, top, bottom):
    image = Image.new("RGB", (40, 20), (220, 0, 0))
    image.paste((0, 0, 220), (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    loaded = np.asarray(load_image(_bytes(image, "PNG", exif=exif.tobytes())))

    def colour(pixel):
        return "red" if pixel[0] > pixel[2] else "blue"

    assert colour(loaded[0, 0]) == top and colour(loaded[-1, 0]) == bottom


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (10, 10), 1)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0, 0, 0] * 254)  # index 0 black, index 1 red
    image.paste(0, (0, 0, 5, 10))  # left half index 0, which is transparent
    loaded = np.asarray(load_image(_bytes(image, "PNG", transparency=0)))
    assert loaded[5, 2].tolist() == [255, 255, 255]  # transparent black shows the white background
    assert loaded[5, 7].tolist() == [200, 30, 30]


@pytest.mark.parametrize(
    "data, status",
    [
        (b"", "invalid"),
        (b"hello, I am a text file\n", "unsupported"),
    ],
)
def test_non_images_are_refused(data, status):
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.reason == status


def test_truncated_jpeg_is_refused(flickr_images):
    data = flickr_images[0].read_bytes()
    with pytest.raises(ImageError, match="corrupt or truncated") as info:
        load_image(data[: len(data) // 2])
    assert info.value.reason == "unreadable"


def test_decompression_bomb_is_refused_before_decoding():
    # A 20000x20000 one-bit PNG compresses to a few kilobytes.
    bomb = _bytes(Image.new("1", (20000, 20000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="too large") as info:
        load_image(bomb)
    assert info.value.reason == "too_large"


def _ico_holding(png: bytes) -> bytes:
    """An .ico whose directory says 256x256 (0 means 256) around the given PNG."""
    import struct

    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png


def test_icon_hiding_a_huge_png_is_refused_before_decoding_it():
    png = io.BytesIO()
    Image.new("1", (9000, 9000), 1).save(png, "PNG")  # 81 M pixels in 28 kB
    with pytest.raises(ImageError, match="too large") as info:
        load_image(_ico_holding(png.getvalue()))
    assert info.value.reason == "too_large"


def test_a_long_strip_is_refused_by_its_side():
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = 40_000_000  # 1 x 40 M RGB: within the pixel count, 120 MB decoded
    raw = zlib.compressobj(9)
    body = raw.compress(b"\x00\x00\x00\x00" * rows) + raw.flush()
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, rows, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="a side") as info:
        load_image(png)
    assert info.value.reason == "too_large"


def test_refusals_say_why_with_their_status(tmp_path, flickr_images):
    cases = []
    for source in (b"", tmp_path / "missing.jpg", _bytes(Image.new("RGB", (50, 50), (1, 2, 3)), "PNG")[:60], flickr_images[0].read_bytes()[:500],
                   b"plain text, not a picture"):
        with pytest.raises(ImageError) as info:
            load_image(source)
        cases.append((str(info.value), info.value.reason))
    assert cases[0] == ("empty file: no image data", "invalid")
    assert cases[1] == (f"{tmp_path / 'missing.jpg'}: no such file", "invalid")
    assert cases[2][0].startswith("image: corrupt or truncated image (") and cases[2][1] == "unreadable"
    assert cases[3][0].startswith("image: corrupt or truncated image (") and cases[3][1] == "unreadable"
    assert cases[4] == ("image: not an image (unknown or unsupported format)", "unsupported")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(flickr_images[0].read_bytes()[:500])
    with pytest.raises(ImageError, match=f"^{truncated}: corrupt or truncated image"):
        load_image(truncated)  # a file's refusal names the file


@pytest.mark.parametrize("mode, raw, expected", [
    ("I;16", (32768).to_bytes(2, "little"), 128),  # half of 16 bits is mid grey, not clipped to white
    ("I;16L", (32768).to_bytes(2, "little"), 128),
    ("I;16B", (32768).to_bytes(2, "big"), 128),
    ("I;16N", (32768).to_bytes(2, "little"), 128),
    ("I", (32768).to_bytes(4, "little", signed=True), 128),  # 32-bit integers above 255: rescaled from 16 bits
    ("I", (200).to_bytes(4, "little", signed=True), 200),  # within 0..255: taken as 8-bit
    ("F", struct.pack("<f", 30000.0), 117),  # float above 255: rescaled from 16 bits
    ("F", struct.pack("<f", 100.0), 100),
])
def test_wide_modes_are_rescaled_not_clipped(mode, raw, expected):
    from captioner.runtime.data.images import to_rgb

    image = Image.frombytes(mode, (2, 2), raw * 4)
    rgb = np.asarray(to_rgb(image))
    assert rgb.shape == (2, 2, 3) and rgb[0, 0].tolist() == [expected] * 3


def test_rgb_is_returned_as_is():
    from captioner.runtime.data.images import to_rgb

    image = Image.new("RGB", (3, 3), (10, 20, 30))
    assert to_rgb(image) is image


# ----- arrays and PIL images in memory (the Python API's inputs), checked pixel by pixel -----
def test_arrays_of_every_layout_and_dtype_become_the_expected_rgb():
    from captioner.runtime.data.images import image_from_array

    gray = np.array([[0, 128], [255, 64]], dtype=np.uint8)
    expected_gray = np.repeat(gray[:, :, None], 3, axis=2)
    cases = [
        (gray, expected_gray),  # (H, W)
        (gray[:, :, None], expected_gray),  # (H, W, 1)
        (np.dstack([gray, gray // 2, 255 - gray]), np.dstack([gray, gray // 2, 255 - gray])),  # (H, W, 3)
        (gray.astype(np.float32) / 255.0, expected_gray),  # floats in 0..1, rounded to nearest
        (gray.astype(np.float64) / 255.0 * 1.0, expected_gray),
        (gray.astype(np.uint16) * 257, expected_gray),  # 16-bit: scaled from 0..65535
        (gray.astype(np.int32), expected_gray),  # integers already in 0..255 stay put
        (np.array([[True, False]]), np.array([[[255] * 3, [0] * 3]], dtype=np.uint8)),
    ]
    for array, expected in cases:
        image = image_from_array(array)
        assert image.mode == "RGB" and image.size == (array.shape[1], array.shape[0])
        assert np.array_equal(np.asarray(image), expected), (array.dtype, array.shape)
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red stays red; a transparent pixel is white
    assert np.asarray(image_from_array(rgba)).tolist() == [[[255, 0, 0], [255, 255, 255]]]
    assert np.asarray(image_from_array(np.array([[1.2, -0.3]]))).tolist() == [[[255] * 3, [0] * 3]]  # clipped


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 2, 2), np.uint8), "shape"),
    (np.zeros((2, 2, 5), np.uint8), "shape"),
    (np.zeros((0, 3), np.uint8), "shape"),
    (np.zeros((2,), np.uint8), "shape"),
    (np.zeros((2, 2, 3, 1), np.uint8), "shape"),
    (np.array([[np.nan, 0.0]]), "NaN"),
    (np.array([[np.inf, 0.0]]), "NaN or infinite"),
    (np.array([["a", "b"]]), "dtype"),
    (np.zeros((2, 2), np.complex64), "dtype"),
])
def test_arrays_that_are_not_images_are_refused(array, message):
    from captioner.runtime.data.images import image_from_array

    with pytest.raises(ImageError, match=message) as info:
        image_from_array(array)
    assert info.value.reason == "unreadable" and "\n" not in str(info.value)


def test_pil_images_get_the_file_loaders_treatment():
    from captioner.runtime.data.images import image_from_pil

    rgba = Image.new("RGBA", (3, 2), (0, 0, 255, 0))
    assert np.asarray(image_from_pil(rgba)).tolist() == [[[255, 255, 255]] * 3] * 2  # transparent on white
    huge = Image.new("L", (100, 100))
    with pytest.raises(ImageError) as info:
        image_from_pil(huge, max_pixels=50)
    assert info.value.reason == "too_large"
    rotated = Image.new("RGB", (4, 2), (10, 20, 30))
    rotated.getexif()[0x0112] = 6  # EXIF orientation: turn 90 degrees to display
    assert image_from_pil(rotated).size == (2, 4)
    assert image_from_pil(Image.new("RGB", (4, 2))).size == (4, 2)


def test_an_icon_over_a_lower_limit_is_refused_and_pillow_s_global_limit_is_never_changed():
    png = io.BytesIO()
    Image.new("1", (1200, 1000), 1).save(png, "PNG")  # 1.2 M pixels, inside an icon whose header says 1x1
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as info:
        load_image(_ico_holding(png.getvalue()), max_pixels=1_000_000)
    assert str(info.value) == "image: image is too large (1200x1000 pixels; limit 1,000,000 and 30,000 a side)"
    assert info.value.reason == "too_large"
    assert load_image(_ico_holding(png.getvalue()), max_pixels=1_300_000).size == (1200, 1000)
    assert Image.MAX_IMAGE_PIXELS == before  # a per-call limit never touches the process-wide one


def test_the_size_limits_are_inclusive_and_name_the_file(tmp_path):
    from captioner.runtime.data.images import MAX_SIDE

    path = tmp_path / "twenty.png"
    Image.new("RGB", (20, 20), (9, 9, 9)).save(path)
    assert load_image(path, max_pixels=400).size == (20, 20)  # exactly the limit
    with pytest.raises(ImageError) as info:
        load_image(path, max_pixels=399)
    assert str(info.value) == f"{path}: image is too large (20x20 pixels; limit 399 and 30,000 a side)"
    assert info.value.reason == "too_large"
    assert load_image(_bytes(Image.new("1", (MAX_SIDE, 1)), "PNG")).size == (MAX_SIDE, 1)
    strip = tmp_path / "strip.png"
    Image.new("1", (MAX_SIDE + 1, 1)).save(strip)
    with pytest.raises(ImageError) as info:
        load_image(strip)
    assert str(info.value) == f"{strip}: image is too large (30001x1 pixels; limit 40,000,000 and 30,000 a side)"


def test_a_pil_image_seeked_past_its_first_frame_is_captioned_from_the_first():
    from captioner.runtime.data.images import image_from_pil

    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = io.BytesIO()
    frames[0].save(data, "GIF", save_all=True, append_images=frames[1:], duration=50)
    gif = Image.open(io.BytesIO(data.getvalue()))
    gif.seek(2)
    red = np.asarray(image_from_pil(gif))[4, 4]
    assert red[0] > 200 and red[1] < 50 and red[2] < 50


def test_pil_image_refusals_say_why():
    from captioner.runtime.data.images import image_from_pil

    with pytest.raises(ImageError) as info:
        image_from_pil(Image.new("L", (10, 10)), max_pixels=99)
    assert str(info.value) == "image: image is too large (10x10 pixels; limit 99 and 30,000 a side)"
    data = _bytes(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    lazy = Image.open(io.BytesIO(data[: len(data) // 2]))  # opened, not decoded: decoding fails later
    with pytest.raises(ImageError) as info:
        image_from_pil(lazy)
    assert str(info.value).startswith("image: unusable PIL image (") and info.value.reason == "unreadable"


@pytest.mark.parametrize("mode, opaque, clear", [
    ("LA", (90, 255), (90, 0)),
    ("La", (90, 255), (0, 0)),  # premultiplied: a clear pixel holds no colour
    ("RGBA", (10, 20, 30, 255), (10, 20, 30, 0)),
    ("RGBa", (10, 20, 30, 255), (0, 0, 0, 0)),
    ("PA", (1, 255), (1, 0)),
])
def test_every_mode_with_alpha_is_composited_on_white(mode, opaque, clear):
    from captioner.runtime.data.images import to_rgb

    image = Image.new(mode, (2, 1), opaque)
    if mode == "PA":
        image.putpalette([0, 0, 0, 10, 20, 30] + [0, 0, 0] * 254)
    image.putpixel((1, 0), clear)
    rgb = np.asarray(to_rgb(image)).tolist()
    expected = [90] * 3 if mode in ("LA", "La") else [10, 20, 30]
    assert rgb == [[expected, [255, 255, 255]]]


@pytest.mark.parametrize("mode, value, expected", [
    ("I", 255, 255),  # the top of 8 bits stays white
    ("I", 256, 1),  # one past: read as 16 bits
    ("I", 0, 0),
    ("I", -40, 0),  # negatives clip to black, never wrap
    ("I", 70_000, 255),  # past 16 bits clips to white, never wraps
    ("I;16", 255, 1),  # a 16-bit mode is 16 bits whatever its values
])
def test_wide_modes_clip_and_choose_their_range_at_the_edges(mode, value, expected):
    from captioner.runtime.data.images import to_rgb

    image = Image.new(mode, (1, 1), value)
    assert np.asarray(to_rgb(image)).tolist() == [[[expected] * 3]]


def test_integer_arrays_are_rescaled_to_the_nearest_8_bit_value():
    from captioner.runtime.data.images import image_from_array

    ramp = np.arange(65536, dtype=np.int64).reshape(256, 256)
    got = np.asarray(image_from_array(ramp))[:, :, 0].astype(np.int64)
    assert np.array_equal(got, (ramp * 255 + 65535 // 2) // 65535)  # integer rounding, worked out apart
    edges = np.array([[255, 0]], dtype=np.int32)
    assert np.asarray(image_from_array(edges))[0, :, 0].tolist() == [255, 0]  # within 8 bits: as is
    wide = np.array([[256, -7, 70_000]], dtype=np.int32)
    assert np.asarray(image_from_array(wide))[0, :, 0].tolist() == [1, 0, 255]  # 16-bit range, clipped


def test_array_refusals_are_422_with_their_reason():
    from captioner.runtime.data.images import image_from_array

    with pytest.raises(ImageError) as info:
        image_from_array(np.array([[np.nan]]))
    assert (str(info.value), info.value.reason) == ("array image has NaN or infinite values", "unreadable")
    with pytest.raises(ImageError) as info:
        image_from_array(np.zeros((20, 20), np.uint8), max_pixels=399)
    assert info.value.reason == "too_large"  # the limit reaches the PIL image made from the array


def test_resize_square_squashes_with_bicubic_to_uint8():
    from captioner.runtime.data.images import resize_square

    image = Image.new("RGB", (40, 10), (0, 0, 0))
    image.paste((250, 100, 0), (0, 0, 20, 10))  # left half orange
    pixels = resize_square(image, 16)
    assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8
    assert pixels[8, 2].tolist() == [250, 100, 0] and pixels[8, 13].tolist() == [0, 0, 0]
    assert np.array_equal(pixels, np.asarray(image.resize((16, 16), Image.BICUBIC)))


def test_a_huge_jpeg2000_is_decoded_reduced_and_its_photo_kept(tmp_path):
    """A small .j2k can ask for 6000x6000 pixels: it is decoded at a power-of-two reduction."""
    import io

    from PIL import Image

    from captioner.runtime.data.images import DECODE_SIDE, load_image

    big = Image.new("RGB", (4200, 2100), (200, 30, 30))
    big.paste((20, 20, 220), (0, 0, 2100, 2100))  # left half blue, right half red
    buffer = io.BytesIO()
    big.save(buffer, "JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[400])
    image = load_image(buffer.getvalue())
    assert DECODE_SIDE <= max(image.size) < 2 * DECODE_SIDE and image.size == (1050, 525)  # reduce 2
    left, right = image.getpixel((100, 260)), image.getpixel((950, 260))
    assert left[2] > 150 > left[0] and right[0] > 150 > right[2]


def test_a_png_with_too_many_text_chunks_is_refused_before_decoding():
    import io
    import zlib

    from PIL import Image

    from captioner.runtime.data.images import MAX_TEXT_CHUNKS, load_image
    from captioner.errors import ImageError

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    png = buffer.getvalue()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    head, tail = png[:33], png[33:]  # signature + IHDR, then the rest
    few = head + b"".join(chunk(b"tEXt", b"k\x00v") for _ in range(10)) + tail
    assert load_image(few).size == (8, 8)
    many = head + b"".join(chunk(b"tEXt", b"k\x00v") for _ in range(MAX_TEXT_CHUNKS + 1)) + tail
    with pytest.raises(ImageError, match="text chunks") as info:
        load_image(many)
    assert info.value.reason == "unreadable"
