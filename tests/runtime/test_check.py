"""`check` against the simulators: all green, then each broken part named with a hint."""

from __future__ import annotations

from pathlib import Path

from ml_connector.config import load_config
from ml_connector.runtime.check import run_checks, verdict
from ml_connector.runtime.demo import demo_world, store_secrets
from ml_connector.store import make_engine
from ml_connector.vault import Vault, load_keyring


async def test_check_passes_then_names_each_broken_part(tmp_path: Path) -> None:
    async with demo_world(tmp_path) as world:
        config = load_config(world.config_path)
        await store_secrets(config, world)
        engine = make_engine(config.db_url)
        vault = Vault(engine, load_keyring(config.key_file, environ={}))
        results = await run_checks(config, engine, vault)
        assert verdict(results), [r for r in results if not r.ok]
        systems = {r.system for r in results}
        assert systems == {"database", "intacct", "sage100", "slack"}
        intacct = next(r for r in results if r.system == "intacct")
        assert "endpoint" in intacct.detail and "session timeout" in intacct.detail
        sage = next(r for r in results if r.system == "sage100")
        assert "certificate" in sage.detail and "expires" in sage.detail

        # Break three things: a password, a channel without the bot, an unserved company.
        await vault.set("intacct.user_password", "not-the-password")
        lonely = world.slack.create_channel("lonely", bot_member=False)
        text = world.config_path.read_text()
        approvals = world.slack.channel_id("ap-approvals")
        text = text.replace(approvals, lonely).replace('company = "ABC"', 'company = "XYZ"')
        world.config_path.write_text(text)
        config = load_config(world.config_path)
        results = await run_checks(config, engine, vault)
        await engine.dispose()
        failed = {r.system: r for r in results if not r.ok}
        assert not verdict(results)
        assert set(failed) == {"intacct", "sage100", "slack"}
        assert failed["intacct"].hint and "not-the-password" not in failed["intacct"].detail
        assert "does not serve company XYZ" in failed["sage100"].hint
        assert failed["slack"].target.startswith("#lonely")
        assert "invite the bot" in failed["slack"].hint
