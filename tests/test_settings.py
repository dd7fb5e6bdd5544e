"""One settings object: the environment read when asked, each default written once."""

from pathlib import Path

from captioner.settings import SHIPPED_DIR, Settings, settings


def test_defaults_without_the_environment():
    here = Settings.from_env({})
    assert (here.dataset, here.feature_cache, here.weights_dir, here.offline) == \
        ("data/flickr8k", "cache/features", None, False)
    assert here.cache_home == Path.home() / ".cache" / "captioner"
    assert SHIPPED_DIR.name == "models" and (SHIPPED_DIR / "default.pt").is_file()


def test_every_variable_is_read():
    env = {"CAPTIONER_DATASET": "/d", "CAPTIONER_CACHE": "/c", "CAPTIONER_CACHE_HOME": "/h",
           "CAPTIONER_WEIGHTS_DIR": "/w", "CAPTIONER_OFFLINE": "1"}
    here = Settings.from_env(env)
    assert (here.dataset, here.feature_cache, here.cache_home, here.weights_dir, here.offline) == \
        ("/d", "/c", Path("/h"), Path("/w"), True)
    assert Settings.from_env({"XDG_CACHE_HOME": "/x"}).cache_home == Path("/x/captioner")
    assert Settings.from_env({"CAPTIONER_OFFLINE": "0", "CAPTIONER_DATASET": ""}).offline is False
    assert Settings.from_env({"CAPTIONER_DATASET": ""}).dataset == "data/flickr8k"


def test_the_environment_is_read_when_asked(monkeypatch):
    monkeypatch.setenv("CAPTIONER_DATASET", "/first")
    assert settings().dataset == "/first"
    monkeypatch.setenv("CAPTIONER_DATASET", "/second")
    assert settings().dataset == "/second"
