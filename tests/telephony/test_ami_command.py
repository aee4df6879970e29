"""manage.py ami_listener: settings and secrets, a clear refusal, a clean exit on SIGTERM."""

import os
import signal
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.telephony.ami_standin import AmiStandin


def run(*args, **options):
    out = StringIO()
    call_command("ami_listener", *args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_listener_cleanly(caplog, tmp_path):
    secret = tmp_path / "ami-secret"
    secret.write_text("s3cret\n")
    before = signal.getsignal(signal.SIGTERM)
    with AmiStandin() as standin:

        def terminate():
            standin.wait_action("QueueStatus")
            os.kill(os.getpid(), signal.SIGTERM)

        killer = threading.Thread(target=terminate)
        killer.start()
        output = run("--host", "127.0.0.1", "--port", str(standin.port), "--secret-file", str(secret))
        killer.join()
        assert standin.actions[-1]["action"] == "Logoff"
    assert f"AMI listener for 127.0.0.1:{standin.port} as hotline" in output
    assert output.strip().endswith("AMI listener stopped.")
    assert signal.getsignal(signal.SIGTERM) == before
    assert "AMI resync from QueueStatus" in caplog.text


def test_a_refused_login_is_a_clear_error(settings):
    with AmiStandin() as standin:
        settings.AMI_PORT, settings.AMI_SECRET = standin.port, "wrong"
        with pytest.raises(CommandError, match=r"refused the AMI login of 'hotline' \(Authentication failed\)"):
            call_command("ami_listener", "--port", str(standin.port))


def test_no_secret_is_refused_before_connecting(settings):
    settings.AMI_SECRET = ""
    with pytest.raises(CommandError, match="No AMI secret"):
        call_command("ami_listener")
    with pytest.raises(CommandError, match="Cannot read the AMI secret file"):
        call_command("ami_listener", "--secret-file", "/nonexistent/secret")
