import pytest

import emotionlayer.testing  # noqa: F401  (registers the dummy backends)
from emotionlayer import registry
from emotionlayer.errors import ConfigError, MissingDependencyError, UnknownComponentError


def test_unknown_name_lists_valid_ones():
    with pytest.raises(UnknownComponentError) as info:
        registry.create("asr", "no-such-asr")
    message = str(info.value)
    assert "no-such-asr" in message
    assert "dummy" in message and "faster-whisper" in message


def test_unknown_kind_and_unknown_param():
    with pytest.raises(ConfigError, match="Valid kinds"):
        registry.available("vision")
    with pytest.raises(ConfigError, match="Its parameters are: text"):
        registry.create("asr", "dummy", txt="oops")


def test_register_create_and_missing_dependency():
    @registry.register("tts", "needs-missing-lib")
    class NeedsMissing:
        """A backend whose library is not installed."""

        requires = ("surely_not_an_installed_module_xyz",)
        extra = "xyz"
        sample_rate = 16000

    assert "needs-missing-lib" in registry.available("tts")
    with pytest.raises(MissingDependencyError, match=r'pip install "emotionlayer\[xyz\]"'):
        registry.create("tts", "needs-missing-lib")
    info = {i.name: i for i in registry.describe("tts")}["needs-missing-lib"]
    assert not info.usable and "emotionlayer[xyz]" in info.reason
    dummy = registry.create("asr", "dummy", text="hi")
    assert dummy.text == "hi"


def test_entry_point_plugins_are_loaded(monkeypatch):
    from importlib.metadata import EntryPoint

    class Plugin:
        """A plugin SER."""

        requires = ()

    ep = EntryPoint(name="plugin-ser", value="tests_plugin:Plugin", group="emotionlayer.ser")
    monkeypatch.setattr(EntryPoint, "load", lambda self: Plugin)
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep] if group == "emotionlayer.ser" else [])
    monkeypatch.setattr(registry, "_LOADED", set())
    assert "plugin-ser" in registry.available("ser")
    assert registry.get_class("ser", "plugin-ser") is Plugin


def test_unusable_reason_names_unknown_and_uninstalled_backends():
    @registry.register("llm", "needs-missing-llm-lib")
    class NeedsMissing:
        """An LLM whose library is not installed."""

        requires = ("surely_not_an_installed_module_xyz",)
        extra = "xyz"

    assert registry.unusable_reason("tts", "dummy") is None
    assert "emotionlayer[xyz]" in registry.unusable_reason("llm", "needs-missing-llm-lib")
    reason = registry.unusable_reason("tts", "no-such-voice")
    assert "no tts backend named 'no-such-voice'" in reason and "dummy" in reason


def test_registered_lasts_for_the_block_and_gives_back_what_was_there():
    from emotionlayer import registry

    class Temporary:
        pass

    class Replacement:
        pass

    assert "temporary-echo" not in registry.available("system")
    with registry.registered("system", "temporary-echo", Temporary):
        assert registry.get_class("system", "temporary-echo") is Temporary
    assert "temporary-echo" not in registry.available("system")
    original = registry.get_class("system", "echo")
    with registry.registered("system", "echo", Replacement):
        assert registry.get_class("system", "echo") is Replacement
    assert registry.get_class("system", "echo") is original
