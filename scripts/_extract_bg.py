import logging, sys, time
from captioner.data.datasets import load_flickr8k
from captioner.encoders import create_encoder
from captioner.encoders.features import FeatureCache
logging.basicConfig(level=logging.INFO)
name = sys.argv[1]
ds = load_flickr8k("../shared/data/flickr8k")
ids = sorted(ds.captions)
enc = create_encoder(name)
t = time.time()
n = FeatureCache("cache/features", name).extract(enc, [(i, ds.image_path(i)) for i in ids])
print(f"encoded {n} images in {time.time()-t:.1f}s", flush=True)
