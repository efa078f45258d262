from __future__ import annotations

import datetime as dt

import pytest

from retailflow.config import FIELD_NAMES, Settings, load_settings, parse_hhmm
from retailflow.errors import ConfigError
from retailflow.sql import memory_bytes


def write_toml(folder, text, name="retailflow.toml"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_configured(tmp_path):
    assert load_settings(environ={}, cwd=tmp_path) == Settings()


def test_toml_in_cwd_overrides_defaults(tmp_path):
    write_toml(tmp_path, 'lake = "from-toml"\ngzip_level = 5\n')
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.lake == "from-toml"
    assert settings.gzip_level == 5
    assert settings.source == Settings().source  # untouched fields keep their defaults


def test_env_overrides_toml(tmp_path):
    write_toml(tmp_path, 'lake = "from-toml"\ngzip_level = 5\n')
    settings = load_settings(environ={"RETAILFLOW_LAKE": "from-env"}, cwd=tmp_path)
    assert settings.lake == "from-env"
    assert settings.gzip_level == 5


def test_flags_override_env_and_toml(tmp_path):
    write_toml(tmp_path, 'lake = "from-toml"\n')
    settings = load_settings(flags={"lake": "from-flag"}, environ={"RETAILFLOW_LAKE": "from-env"}, cwd=tmp_path)
    assert settings.lake == "from-flag"


def test_unset_flags_and_empty_env_values_do_not_override(tmp_path):
    write_toml(tmp_path, 'lake = "from-toml"\n')
    settings = load_settings(flags={"lake": None}, environ={"RETAILFLOW_LAKE": ""}, cwd=tmp_path)
    assert settings.lake == "from-toml"


def test_explicit_config_file_wins_over_cwd_file(tmp_path):
    write_toml(tmp_path, 'lake = "cwd"\n')
    other = write_toml(tmp_path, 'lake = "explicit"\n', name="other.toml")
    assert load_settings(config_file=other, environ={}, cwd=tmp_path).lake == "explicit"


def test_config_file_named_by_env(tmp_path):
    other = write_toml(tmp_path, 'lake = "via-env"\n', name="other.toml")
    assert load_settings(environ={"RETAILFLOW_CONFIG": str(other)}, cwd=tmp_path).lake == "via-env"


def test_retailflow_table_form_is_accepted(tmp_path):
    write_toml(tmp_path, '[retailflow]\nlake = "tabled"\nscan_days_back = 2\n')
    settings = load_settings(environ={}, cwd=tmp_path)
    assert (settings.lake, settings.scan_days_back) == ("tabled", 2)


def test_unknown_toml_key_names_it_and_the_valid_keys(tmp_path):
    write_toml(tmp_path, 'lake = "x"\nlakes = "typo"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, cwd=tmp_path)
    text = str(info.value)
    assert "lakes" in text
    assert all(name in text for name in FIELD_NAMES)


def test_invalid_toml_is_a_config_error(tmp_path):
    write_toml(tmp_path, "lake = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={}, cwd=tmp_path)


def test_missing_explicit_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "absent.toml", environ={}, cwd=tmp_path)


def test_env_numbers_are_coerced(tmp_path):
    settings = load_settings(
        environ={"RETAILFLOW_SCAN_DAYS_BACK": "2", "RETAILFLOW_QUARANTINE_THRESHOLD": "0.05"}, cwd=tmp_path
    )
    assert settings.scan_days_back == 2 and isinstance(settings.scan_days_back, int)
    assert settings.quarantine_threshold == pytest.approx(0.05)


def test_bad_number_in_env_names_the_variable(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"RETAILFLOW_GZIP_LEVEL": "fast"}, cwd=tmp_path)
    assert "RETAILFLOW_GZIP_LEVEL" in str(info.value)
    assert "'fast'" in str(info.value)


def test_bad_number_in_toml_is_a_config_error(tmp_path):
    write_toml(tmp_path, 'export_threads = "many"\n')
    with pytest.raises(ConfigError, match="must be a number"):
        load_settings(environ={}, cwd=tmp_path)


def test_invalid_timezone_rejected(tmp_path):
    with pytest.raises(ConfigError, match="time zone"):
        load_settings(environ={"RETAILFLOW_TIMEZONE": "Mars/Olympus_Mons"}, cwd=tmp_path)


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_threshold_outside_0_1_rejected(tmp_path, value):
    with pytest.raises(ConfigError, match="quarantine_threshold"):
        load_settings(environ={"RETAILFLOW_QUARANTINE_THRESHOLD": value}, cwd=tmp_path)


@pytest.mark.parametrize("value", ["25:00", "04:60", "4pm", "0430", "04:30:00", ""])
def test_invalid_deadline_rejected(value):
    with pytest.raises(ConfigError, match="HH:MM"):
        parse_hhmm(value)


def test_invalid_deadline_in_settings_rejected(tmp_path):
    with pytest.raises(ConfigError, match="not a time of day"):
        load_settings(flags={"deadline": "24:00"}, environ={}, cwd=tmp_path)


def test_valid_deadline_parses():
    assert parse_hhmm("04:30") == dt.time(4, 30)
    assert parse_hhmm("00:00") == dt.time(0, 0)
    assert parse_hhmm("23:59") == dt.time(23, 59)


@pytest.mark.parametrize(
    "changes",
    [{"engine": "pandas"}, {"gzip_level": 0}, {"gzip_level": 10}, {"export_threads": 0}, {"scan_days_back": -1}],
)
def test_out_of_range_settings_rejected(changes):
    with pytest.raises(ConfigError):
        Settings().replace(**changes)


def test_replace_ignores_none_and_changes_the_rest():
    settings = Settings().replace(lake="elsewhere", deadline=None)
    assert settings.lake == "elsewhere"
    assert settings.deadline is None


# -- booleans (allow_manifestless), the lease settings, the DuckDB memory limit ---------------------------


@pytest.mark.parametrize(
    "text, value",
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), (" Yes ", True)]
    + [("false", False), ("False", False), ("0", False), ("no", False)],
)
def test_env_booleans_are_coerced(tmp_path, text, value):
    settings = load_settings(environ={"RETAILFLOW_ALLOW_MANIFESTLESS": text}, cwd=tmp_path)
    assert settings.allow_manifestless is value


@pytest.mark.parametrize("text", ["maybe", "2", "y e s", "truee"])
def test_a_bad_boolean_in_env_is_one_line_naming_the_variable(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"RETAILFLOW_ALLOW_MANIFESTLESS": text}, cwd=tmp_path)
    message = str(info.value)
    assert "RETAILFLOW_ALLOW_MANIFESTLESS" in message and repr(text) in message and "true or false" in message
    assert "\n" not in message


def test_toml_booleans(tmp_path):
    write_toml(tmp_path, "allow_manifestless = true\n")
    assert load_settings(environ={}, cwd=tmp_path).allow_manifestless is True
    write_toml(tmp_path, 'allow_manifestless = "no"\n')
    assert load_settings(environ={}, cwd=tmp_path).allow_manifestless is False
    write_toml(tmp_path, 'allow_manifestless = "sometimes"\n')
    with pytest.raises(ConfigError, match="allow_manifestless"):
        load_settings(environ={}, cwd=tmp_path)


def test_allow_manifestless_is_off_by_default_and_text_is_typed():
    assert Settings().allow_manifestless is False
    assert Settings(allow_manifestless="true").allow_manifestless is True


def test_lease_settings(tmp_path):
    settings = load_settings(environ={"RETAILFLOW_LEASE_WAIT_S": "0", "RETAILFLOW_LEASE_TTL_S": "30"}, cwd=tmp_path)
    assert (settings.lease_wait_s, settings.lease_ttl_s) == (0.0, 30.0)
    assert Settings().lease_wait_s > 0  # a second run waits for the first by default


@pytest.mark.parametrize("changes", [{"lease_wait_s": -1}, {"lease_ttl_s": 0}, {"lease_wait_s": float("nan")}])
def test_out_of_range_lease_settings_rejected(changes):
    with pytest.raises(ConfigError):
        Settings().replace(**changes)


@pytest.mark.parametrize("value", ["2GB", "512 MiB", "1.5GB"])
def test_a_memory_limit_is_accepted(tmp_path, value):
    assert load_settings(environ={"RETAILFLOW_DUCKDB_MEMORY_LIMIT": value}, cwd=tmp_path).duckdb_memory_limit == value


@pytest.mark.parametrize("value", ["1GB'; ATTACH '/tmp/x.db", "lots", "2 GB; SELECT 1", "-1GB"])
def test_a_crafted_memory_limit_is_a_config_error_not_sql(tmp_path, value):
    with pytest.raises(ConfigError, match="duckdb_memory_limit") as info:
        load_settings(environ={"RETAILFLOW_DUCKDB_MEMORY_LIMIT": value}, cwd=tmp_path)
    assert "\n" not in str(info.value)


def test_typed_zone_is_on_by_default_and_the_environment_turns_it_off(tmp_path):
    assert Settings().typed_zone is True
    assert load_settings(environ={"RETAILFLOW_TYPED_ZONE": "false"}, cwd=tmp_path).typed_zone is False
    with pytest.raises(ConfigError, match="RETAILFLOW_TYPED_ZONE"):
        load_settings(environ={"RETAILFLOW_TYPED_ZONE": "sometimes"}, cwd=tmp_path)


@pytest.mark.parametrize("value, expected", [("2GB", 2 * 10**9), ("512 MiB", 512 * 2**20), ("1.5GB", 15 * 10**8)])
def test_memory_sizes_read_as_duckdb_reads_them(value, expected):
    assert memory_bytes(value) == expected


def test_duckdb_buffers_get_sixty_percent_of_the_memory_limit(tmp_path):
    """The rest is headroom for what DuckDB does not account for, so the whole process stays within it."""
    import duckdb

    from retailflow.lake import Lake
    from retailflow.transform.duckdb_engine import DuckDBEngine
    from retailflow.transform.inputs import RunInputs

    engine = DuckDBEngine(memory_limit="2GB")
    engine.load(Lake(str(tmp_path / "lake")), RunInputs())
    limit = engine.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    engine.close()
    reference = duckdb.connect()
    reference.execute("SET memory_limit = '1200MB'")
    assert limit == reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]
