import pytest
from helpers import ROOT, run_cli, write_config

from assistant.core.config import Settings, load_settings, parse_settings, replace_first_endpoint
from assistant.core.errors import ConfigError


def test_the_shipped_config_is_exactly_the_defaults():
    assert load_settings(ROOT / "config.yaml") == Settings()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"vad": {"aggresiveness": 2}}, "vad.aggresiveness: unknown key"),
        ({"vad": {"aggressiveness": "high"}}, "vad.aggressiveness: expected an integer, got str 'high'"),
        ({"vad": {"aggressiveness": 7}}, "vad.aggressiveness: must be 0, 1, 2 or 3"),
        ({"vad": {"frame_ms": 25}}, "vad.frame_ms: must be 10, 20 or 30"),
        ({"wake": {"mode": "sometimes"}}, "wake.mode: must be one of always, phrase"),
        ({"llm": {"endpoints": [{"url": "http://a:1"}, {"url": "htp:/x"}]}}, "llm.endpoints[1].url: not a URL: 'htp:/x'"),
        ({"llm": {"options": {"max_tokens": True}}}, "llm.options.max_tokens: expected an integer"),
        ({"tts": "loud"}, "tts: expected a mapping, got str"),
        ({"tts": {"noise_scale": 3}}, "tts.noise_scale: must be between 0 and 2, or null for the voice's own"),
        ({"audio": {"barge_in": "yes"}}, "audio.barge_in: expected true or false"),
        ([1, 2], "config: expected a mapping, got list"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as err:
        parse_settings(data)
    assert message in str(err.value)


def test_llm_overrides_replace_the_first_endpoint():
    settings = parse_settings({"llm": {"endpoints": [{"url": "http://a:1", "models": ["x"]}, {"url": "http://b:2"}]}})
    changed = replace_first_endpoint(settings, "http://c:3/v1", "openai", ["m1", "m2"])
    assert [e.url for e in changed.llm.endpoints] == ["http://c:3/v1", "http://b:2"]
    assert changed.llm.endpoints[0].models == ("m1", "m2") and changed.llm.endpoints[0].api == "openai"
    with pytest.raises(ConfigError, match="--llm-url"):
        replace_first_endpoint(settings, "nope", None, None)


@pytest.mark.parametrize(
    "text, culprit",
    [
        ("vad:\n  aggresiveness: 2\n", "vad.aggresiveness"),
        ("stt:\n  beam_size: two\n", "stt.beam_size"),
        ("vad: [\n", "not valid YAML"),
    ],
)
def test_cli_rejects_a_bad_config_in_one_line(tmp_path, text, culprit):
    config = write_config(tmp_path / "bad.yaml", text)
    for command in (["run", "--input", ROOT / "config.yaml", "--output", tmp_path / "o.wav"], ["transcribe", "x.wav"]):
        result = run_cli(command[0], "--config", config, *command[1:], timeout=60)
        assert result.code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and culprit in lines[0] and str(config) in lines[0]
        assert "Traceback" not in result.stderr


def test_cli_names_a_missing_config_file(tmp_path):
    result = run_cli("transcribe", "--config", tmp_path / "nope.yaml", "x.wav", timeout=60)
    assert result.code == 2 and result.stderr.strip() == f"assistant: error: {tmp_path / 'nope.yaml'}: config file not found"


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://[::1", "ftp://h:1",
                                 "http://:8080", "http://127.0.0.1:0"])
def test_a_url_that_cannot_work_is_refused_at_load(url):
    with pytest.raises(ConfigError, match=r"llm\.endpoints\[0\]\.url: not a URL"):
        parse_settings({"llm": {"endpoints": [{"url": url}]}})
    with pytest.raises(ConfigError, match="--llm-url"):
        replace_first_endpoint(parse_settings({}), url, None, None)


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434", "https://[::1]:8080/v1/", "http://localhost"])
def test_good_urls_pass(url):
    assert parse_settings({"llm": {"endpoints": [{"url": url}]}}).llm.endpoints[0].url == url


def test_a_reload_keeps_what_runs_until_a_restart_and_refuses_what_does_not_hold_with_it(caplog):
    """SIGHUP (daemon/reload.applicable): stt, satellites and the turn model stay
    as they run, said in the log; barge-in turned on while the satellite is still
    the room is refused whole."""
    from dataclasses import replace

    from assistant.daemon.reload import applicable

    running = parse_settings({"satellites": {"garage": "tcp://garage:10700"}})
    new = parse_settings({"stt": {"uri": "tcp://box:10300"}, "vad": {"turn": "silence"},
                          "wake": {"mode": "phrase"}, "satellites": {"garage": "tcp://garage:10700"}})
    with caplog.at_level("WARNING"):
        applied = applicable(running, new)
    assert applied.stt == running.stt and applied.vad.turn == running.vad.turn  # until a restart
    assert applied.wake.mode == "phrase"  # at once
    assert "stt, vad.turn and vad.turn_model changes take effect after a restart" in caplog.text
    assert applicable(running, replace(new, stt=running.stt, vad=running.vad)).wake.mode == "phrase"
    with pytest.raises(ConfigError, match=r"^audio.barge_in: not with a satellite.*until a restart\)$"):
        applicable(running, parse_settings({"audio": {"barge_in": True}}))
