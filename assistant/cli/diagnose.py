"""`assistant diagnose`: every check a user needs before trusting the daemon.

Checks run concurrently, each under its own deadline, so the whole run ends in
well under 20 s even when every endpoint hangs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path

from assistant.audio import devices
from assistant.core.config import LlmTimeouts, Settings
from assistant.core.errors import AssistantError

PHRASE = "The quick brown fox jumps over the lazy dog."
DEADLINE_S = 15.0
ENDPOINT_DEADLINE_S = 12.0  # detection (4 s) then a first token (5 s), every endpoint at once


@dataclass
class Check:
    name: str
    status: str  # pass, warn or fail
    detail: str
    fix: str = ""
    ms: float = 0.0


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


async def _timed(name: str, seconds: float, job, fix: str) -> Check | list[Check]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            result = await job
    except TimeoutError:
        return _fail(name, f"no result within {seconds:.0f} s", fix)
    except AssistantError as err:
        return _fail(name, str(err), fix)
    except Exception as err:  # a check must never take diagnose down
        return _fail(name, f"{type(err).__name__}: {err}", fix)
    for check in result if isinstance(result, list) else [result]:
        check.ms = check.ms or round((time.perf_counter() - started) * 1000, 1)
    return result


def check_config(path: Path | None, error: str | None) -> Check:
    if error:
        return _fail("config", error, "fix the key named above (config.yaml lists every key with its default)")
    if path is None:
        return Check("config", "pass", "no config file: built-in defaults")
    return Check("config", "pass", f"{path} is valid")


def check_device(kind: str, device: str | int | None) -> Check:
    import numpy as np
    import sounddevice as sd

    key = f"audio.{kind}_device"
    name = f"{kind} device"
    fix = f"run 'assistant devices' and set {key}, or use {'--input FILE' if kind == 'input' else '--output FILE.wav'}"
    try:
        info = devices.find(device, kind, key)
        rate = int(info["default_samplerate"])
        if kind == "input":
            with sd.InputStream(device=info["index"], samplerate=rate, channels=1, dtype="int16") as stream:
                stream.read(rate // 10)
        else:
            with sd.OutputStream(device=info["index"], samplerate=rate, channels=1, dtype="int16") as stream:
                stream.write(np.zeros(rate // 10, np.int16))
    except AssistantError as err:
        return _fail(name, str(err), fix)
    except (sd.PortAudioError, OSError, ValueError) as err:
        return _fail(name, f"{key}: cannot open: {err}", fix)
    return Check(name, "pass", f"{info['name']!r} opens at {rate} Hz")


def check_round_trip(settings: Settings) -> Check:
    """The voice says a phrase; whisper must hear it back."""
    import numpy as np

    from assistant.audio.capture import to_pcm16
    from assistant.speech.tts import PiperSynthesizer
    from assistant.speech.whisper import WhisperTranscriber

    synth = PiperSynthesizer(settings.tts)
    audio = synth.synthesize(PHRASE, steady=True)  # the same verdict on every run
    pcm = to_pcm16(audio.astype(np.float32) / 32768.0, synth.sample_rate)
    heard = WhisperTranscriber(settings.stt).transcribe_sync(pcm).text
    score = SequenceMatcher(None, _words(PHRASE), _words(heard)).ratio()
    if score < 0.8:
        return _fail("speech round trip", f"Piper said {PHRASE!r}, whisper heard {heard!r}",
                     "check stt.model and tts.voice (see models/README.md)")
    return Check("speech round trip", "pass", f"{settings.tts.voice} -> {settings.stt.model}: heard {heard!r}")


ERLE_WARN_DB = 20.0  # AEC3 removing less leaves barge-in to the level gate


def check_echo(settings: Settings) -> Check:
    """Echo cancellation on this room: Piper's probe phrase is played twice on the
    speaker while the microphone records; the two cancellers, lined up by
    GCC-PHAT as the daemon does, clean the recording twice (the first pass
    teaches them the room). Reported: the echo's level and delay, and how much of
    it each removes in the second playing of the second pass (ERLE):
    AEC3 (what tells the user from the echo) and SpeexDSP (what is transcribed)."""
    import numpy as np
    import sounddevice as sd
    import soxr

    from assistant.audio.echo import FRAME, RATE, Aec3, SpeexCanceller, estimate_delay
    from assistant.audio.levels import window_db
    from assistant.speech.tts import PiperSynthesizer

    if not settings.audio.cancels_echo:
        why = "off (audio.echo_cancellation: false)" if settings.audio.barge_in else \
            "not needed: audio.barge_in is off, so the microphone is shut while the coach speaks"
        return Check("echo canceller", "pass", why)
    cancellers = Aec3(), SpeexCanceller()  # both load, or the check fails naming the package
    synth = PiperSynthesizer(settings.tts)
    voice = synth.synthesize(PHRASE, steady=True)
    quiet = np.zeros(synth.sample_rate // 4, np.int16)
    probe = np.concatenate([quiet, voice, quiet, voice, quiet])
    out_info = devices.find(settings.audio.output_device, "output", "audio.output_device")
    in_info = devices.find(settings.audio.input_device, "input", "audio.input_device")
    out_rate, in_rate = int(out_info["default_samplerate"]), int(in_info["default_samplerate"])

    def record_probe() -> tuple[np.ndarray, bool]:
        """The microphone's recording of the probe, and whether either stream ran
        dry or over (a sample lost or made up moves the echo under the filters)."""
        recorded: list[np.ndarray] = []
        xruns: list[object] = []

        def heard(data: np.ndarray, frames: int, when: object, status: object) -> None:
            recorded.append(data[:, 0].copy())
            if status:
                xruns.append(status)

        with (sd.InputStream(device=in_info["index"], samplerate=in_rate, channels=1, dtype="int16", callback=heard),
              sd.OutputStream(device=out_info["index"], samplerate=out_rate, channels=1, dtype="int16") as out):
            ran_dry = out.write(soxr.resample(probe, synth.sample_rate, out_rate).astype(np.int16))
            time.sleep(0.5 + out.latency)
        return np.concatenate(recorded), bool(ran_dry or xruns)

    recording, xrun = record_probe()
    again = ""
    if xrun:  # once more: a busy moment is no property of the room
        recording, xrun = record_probe()
        again = " (measured twice: the first probe ran dry)"
    far = soxr.resample(probe, synth.sample_rate, RATE).astype(np.float64)
    near = soxr.resample(recording, in_rate, RATE).astype(np.float64)
    lag = estimate_delay(near, far, max_ms=1000)
    size = min(len(near) - lag, len(far)) // FRAME * FRAME
    near, far = near[lag: lag + size], far[:size]
    far_db = window_db(far.astype(np.int16), FRAME)
    played = far_db > -40.0
    echo_db = float(np.median(window_db(near.astype(np.int16), FRAME)[played]) - np.median(far_db[played]))
    if echo_db < -45.0:
        return Check("echo canceller", "pass", f"the microphone hears the speaker {-echo_db:.0f} dB down: "
                                               "no echo to cancel (a headset, or the speaker far away)")
    second = np.zeros(size, bool)  # the second playing, where the far end is voiced: the filters learnt on the first
    second[size // 2:] = np.repeat(played, FRAME)[size // 2:]
    erle = []
    for canceller in cancellers:
        # once to learn the room, as the daemon's filters have by their second reply (they are kept between
        # replies); measured on the next pass (SpeexDSP removed 5 to 12 dB of one pass on the rig)
        canceller.process(near.astype(np.int16), far.astype(np.int16))
        cleaned = canceller.process(near.astype(np.int16), far.astype(np.int16)).astype(np.float64)
        erle.append(10 * np.log10(np.sum(near[second] ** 2) / max(np.sum(cleaned[second] ** 2), 1.0)))
    detail = (f"the microphone hears the speaker at {echo_db:+.0f} dB, {lag * 1000 // RATE} ms late; AEC3 removes "
              f"{erle[0]:.0f} dB of it (telling the user from the echo), SpeexDSP {erle[1]:.0f} dB (what is "
              f"transcribed){again}" + (" (the probe ran dry: the figures may be low)" if xrun else ""))
    if erle[0] < ERLE_WARN_DB:
        return Check("echo canceller", "warn", detail, "barge-in rests on the level gate: lower the speaker's "
                     "volume or move the microphone away from it")
    return Check("echo canceller", "pass", detail)


def _words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalnum() or c == " ").split()


async def check_endpoints(settings: Settings) -> list[Check]:
    """Every endpoint, through ``Failover.diagnose`` itself, with short deadlines."""
    from assistant.llm.service import LLMService

    fast = replace(settings.llm, timeouts=LlmTimeouts(connect=2.0, first_token=5.0, between_tokens=5.0, total=8.0),
                   embedded=replace(settings.llm.embedded, enabled=False))
    service = LLMService(config=fast)
    try:
        reports = await service.failover.diagnose()
    finally:
        await service.aclose()
    return [check for index, report in enumerate(reports) for check in endpoint_checks(index, settings, report)]


def endpoint_checks(index: int, settings: Settings, report: dict) -> list[Check]:
    """One endpoint's report as checks, each failure with its fix."""
    endpoint = settings.llm.endpoints[index]
    name, key = f"llm endpoint {index}", f"llm.endpoints[{index}]"
    if not report["answers"]:
        return [_fail(name, f"{endpoint.url}: {report['error']}",
                      f"restart the server at {endpoint.url}, or fix {key}.url")]
    if not report["reachable"]:
        return [_fail(name, report["error"], f"start the server (e.g. 'ollama serve') or fix {key}.url")]
    version = f" {report['version']}" if report["version"] else ""
    checks = [Check(name, "pass", f"{report['url']} speaks {report['api']}{version}; "
                                  f"{len(report['models_available'])} models")]
    for position, model in enumerate(endpoint.models):
        if not report["models"].get(model):
            role = "primary" if position == 0 else "fallback"
            pull = f"'ollama pull {model}'" if str(report["api"]).startswith("ollama") else "load it on the server"
            checks.append(Check(f"{name} model {model}", "fail" if position == 0 else "warn",
                                f"{role} model not on the server", f"{pull}, or change {key}.models"))
    if report["first_token_error"]:
        checks.append(_fail(f"{name} first token", report["first_token_error"],
                            f"check the server's log, or try a smaller model in {key}.models"))
    elif report["first_token_ms"] is not None:
        checks.append(Check(f"{name} first token", "pass",
                            f"{endpoint.models[0]}: first token in {report['first_token_ms']:.0f} ms",
                            ms=report["first_token_ms"]))
    return checks


def check_embedded(settings: Settings) -> Check:
    if not settings.llm.embedded.enabled:
        return Check("embedded model", "warn", "disabled: no last-resort model if every endpoint fails",
                     "set llm.embedded.enabled: true")
    from assistant.llm.embedded import EmbeddedBackend

    backend = EmbeddedBackend(settings.llm.embedded, 512)
    backend.load()
    assert backend.llama is not None
    out = backend.llama.create_chat_completion(messages=[{"role": "user", "content": "Say: ok"}], max_tokens=2)
    if not out["choices"][0]["message"]["content"] and out["usage"]["completion_tokens"] == 0:
        return _fail("embedded model", f"{backend.path.name} generated nothing", "check llm.embedded.model")
    return Check("embedded model", "pass", f"{backend.path.name} loads and generates")


def check_turn_model(settings: Settings) -> Check:
    """vad.turn: model: the turn model loads and judges the round trip's phrase."""
    if settings.vad.turn != "model":
        return Check("turn model", "pass", f"vad.turn: silence (turns end after {settings.vad.end_silence_ms} ms)")
    import numpy as np

    from assistant.audio.capture import to_pcm16
    from assistant.listen.turn import TurnModel
    from assistant.speech.tts import PiperSynthesizer

    synth = PiperSynthesizer(settings.tts)
    audio = synth.synthesize(PHRASE, steady=True)
    pcm = to_pcm16(audio.astype(np.float32) / 32768.0, synth.sample_rate)
    model = TurnModel(settings.vad.turn_model)
    started = time.perf_counter()
    probability = model.probability(pcm)
    ms = (time.perf_counter() - started) * 1000
    return Check("turn model", "pass",
                 f"{settings.vad.turn_model} loads; {PHRASE!r} complete with p={probability:.2f} ({ms:.0f} ms)")


def check_history(settings: Settings) -> Check:
    from assistant.store.history import HistoryStore

    store = HistoryStore(settings.history.path, settings.history.retention_turns)
    try:
        store.db.execute("BEGIN IMMEDIATE")  # takes the write lock: fails if another process holds it
        store.db.execute("INSERT INTO turns (at, heard, addressed) VALUES (0, 'diagnose', 1)")
        store.db.execute("ROLLBACK")
    finally:
        store.close()
    return Check("history store", "pass", f"{store.path} is writable")


def check_status_api(settings: Settings) -> Check:
    from assistant.core.config import is_loopback
    from assistant.core.errors import ConfigError
    from assistant.daemon.status import bearer_token

    api = settings.status_api
    if not api.enabled:
        return Check("status API", "pass", "disabled")
    where = f"http://{api.host}:{api.port}"
    try:
        bearer_token(api)  # what the daemon itself would refuse at start
    except ConfigError as err:
        return _fail("status API", str(err),
                     f"export {api.token_env}=<a long random string> where the daemon runs, or unset token_env")
    if not is_loopback(api.host) or api.token_env:
        from assistant.daemon.pairing import pairing_path, spoken, stored_code

        code = stored_code(pairing_path(settings))
        pair = f"code {spoken(code)}" if code else "the code the daemon prints when it starts"
        reach = "reachable beyond this machine" if not is_loopback(api.host) else "loopback only"
        return Check("status API", "pass", f"{where}: {reach}; a screen pairs at http://<this machine>:{api.port}"
                     f"/pair with {pair}{'; API clients with the bearer token' if api.token_env else ''}")
    return Check("status API", "pass", f"{where}{' with a bearer token' if api.token_env else ', loopback only'}")


def check_api_keys(settings: Settings) -> list[Check]:
    from assistant.llm.servers import key_problem

    checks = []
    for index, endpoint in enumerate(settings.llm.endpoints):
        problem = key_problem(endpoint)
        if problem:
            fix = f"export {endpoint.api_key_env}=<the key>, or remove llm.endpoints[{index}].api_key_env"
            checks.append(Check(f"llm endpoint {index} key", "warn", f"{problem}: requests go without a key", fix))
    return checks


def check_systemd() -> Check:
    from assistant.cli.service import unit_path

    if not unit_path().exists():
        return Check("systemd unit", "warn", f"not installed ({unit_path()})",
                     "run 'assistant service install' to start the coach with your session")
    if shutil.which("systemctl") is None:
        return Check("systemd unit", "warn", "installed, but systemctl is not available", "")
    state = subprocess.run(["systemctl", "--user", "is-active", "assistant.service"], capture_output=True,
                           text=True, timeout=5).stdout.strip()
    if state == "active":
        return Check("systemd unit", "pass", "installed and active")
    return Check("systemd unit", "warn", f"installed but {state or 'not active'}",
                 "systemctl --user start assistant.service; journalctl --user -u assistant for its log")


async def run_checks(settings: Settings, config_error: str | None, config_path: Path | None) -> list[Check]:
    thread = asyncio.to_thread
    jobs = [
        _timed("input device", DEADLINE_S, thread(check_device, "input", settings.audio.input_device), ""),
        _timed("output device", DEADLINE_S, thread(check_device, "output", settings.audio.output_device), ""),
        _timed("speech round trip", DEADLINE_S, thread(check_round_trip, settings), "check stt.model and tts.voice"),
        _timed("embedded model", DEADLINE_S, thread(check_embedded, settings), "check llm.embedded.model"),
        _timed("turn model", DEADLINE_S, thread(check_turn_model, settings),
               "check vad.turn_model (scripts/setup installs the bundled one), or set vad.turn: silence"),
        _timed("history store", 5, thread(check_history, settings), "set history.path to a writable place"),
        _timed("systemd unit", 6, thread(check_systemd), ""),
        _timed("llm endpoints", ENDPOINT_DEADLINE_S, check_endpoints(settings), "check llm.endpoints"),
    ]
    if settings.stt.uri is not None or settings.tts.uri is not None or settings.satellites:
        from assistant.cli.diagnose_remote import check_remote_services

        jobs.append(_timed("on the network", DEADLINE_S, check_remote_services(settings),
                           "check stt.uri, tts.uri and satellites"))
    results: list[Check | list[Check]] = list(await asyncio.gather(*jobs))
    # Alone, after the models have loaded: a probe played beside them ran dry on 2 cores, and the cancellers
    # then met an echo that moved mid-probe (AEC3 39 dB and SpeexDSP 5 dB once on the rig, against 73 and 23).
    results.insert(4, await _timed("echo canceller", DEADLINE_S, thread(check_echo, settings),
                                   "install Debian's libspeexdsp1 (scripts/setup does), or set "
                                   "audio.echo_cancellation: false"))
    checks = [check_config(config_path, config_error), check_status_api(settings), *check_api_keys(settings)]
    for result in results:
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def show(checks: list[Check], as_json: bool) -> None:
    if as_json:
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
        return
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.status.upper():<4}  {c.name:<{width}}  {c.detail}")
        if c.status != "pass" and c.fix:
            print(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    failed = sum(c.status == "fail" for c in checks)
    print(f"\n{len(checks)} checks: {len(checks) - failed} without failure, {failed} failed")
