"""deploy/aws/template.yaml, the whole AWS stack as code.

Two kinds of test. Deployed to the local CloudFormation API (moto): the stack completes and creates the
bucket (with its encryption), the roles with their inline policies resolved to real ARNs, the instance
profile and the function with its handler and environment. moto reports CREATE_COMPLETE while it silently
skips what it does not model (Scheduler schedules, the Glue database and crawler, the Athena workgroup,
the secret, the bucket policy, the invoke config), and of a bucket it applies only the encryption: so the
template itself is read for the rest (schedules, each role's actions and resources against the
least-privilege list, versioning, public access, lifecycle, Athena result encryption). Which conditional
resources a set of parameters creates is read from the template's Conditions (``created``).
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from retailflow.config import parse_hhmm
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.readiness.wake import parse_target
from tests.deploy import TEMPLATE, load_template

# moto's server thread warns of each resource type it skips ("Tried to parse AWS::Scheduler::Schedule").
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

PARAMS = {"LakeBucketName": "retail-lake", "CodeBucketName": "retail-code"}
# trigger=airflow with a secret of its own and a host to wake (the test account and region are moto's).
AIRFLOW_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:retailflow/airflow-AbCdEf"
AIRFLOW = {
    "Trigger": "airflow",
    "AirflowUrl": "https://airflow.example.com",
    "AirflowSecretArn": AIRFLOW_SECRET,
    "AirflowWakeInstance": "i-0123456789abcdef0",
}
AIRFLOW_ENV = (
    "RETAILFLOW_AIRFLOW_URL",
    "RETAILFLOW_AIRFLOW_DAG_ID",
    "RETAILFLOW_AIRFLOW_SECRET_ID",
    "RETAILFLOW_AIRFLOW_WAKE_INSTANCE",
)


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(role: dict) -> dict[str, dict]:
    """A role's inline policy statements by Sid."""
    out = {}
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            assert st["Sid"] not in out, f"duplicate Sid {st['Sid']}"
            out[st["Sid"]] = st
    return out


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def sub(value) -> str:
    """The text of a !Sub (or a plain string)."""
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value


# -- (a) deployed to the local CloudFormation API ------------------------------------------------------


def deploy(aws, **overrides) -> dict:
    aws.bucket(PARAMS["CodeBucketName"])
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("retailflow/__init__.py", "")
    defaults = load_template(TEMPLATE)["Parameters"]
    aws.client("s3").put_object(
        Bucket=PARAMS["CodeBucketName"], Key=defaults["CodeKey"]["Default"], Body=zipped.getvalue()
    )
    cfn = aws.client("cloudformation")
    cfn.create_stack(
        StackName="retailflow",
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**PARAMS, **overrides}.items()],
    )
    stack = cfn.describe_stacks(StackName="retailflow")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="retailflow")["StackResources"]
        if "LogicalResourceId" in r  # moto lists the resources it skipped without a name
    }
    return {"outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}, "physical": physical}


def role_policies(iam, role_name: str) -> dict[str, dict[str, dict]]:
    """Each inline policy of a role (the role's own and AWS::IAM::Policy ones): name -> statements by Sid."""
    out = {}
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):  # moto returns a policy that CloudFormation created as Python's repr of it
            document = ast.literal_eval(document)
        out[name] = {st["Sid"]: st for st in document["Statement"]}
    return out


def inline_policy(iam, role_name: str) -> dict[str, dict]:
    (policy,) = role_policies(iam, role_name).values()
    return policy


def test_stack_deploys_bucket_function_and_roles(aws):
    stack = deploy(aws)
    bucket, physical = PARAMS["LakeBucketName"], stack["physical"]
    assert stack["outputs"]["LakeUrl"] == f"s3://{bucket}/retail"
    assert physical["LakeBucket"] == bucket
    assert "CrawlerRole" not in physical  # the crawler is off by default

    s3 = aws.client("s3")
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    iam = aws.client("iam")
    role_arn = iam.get_role(RoleName=physical["ReadinessRole"])["Role"]["Arn"]
    function = aws.client("lambda").get_function(FunctionName="retailflow-readiness")["Configuration"]
    assert function["Handler"] == "retailflow.readiness.handler.handler"
    assert function["Runtime"] == "python3.12"
    assert function["Role"] == role_arn
    env = function["Environment"]["Variables"]
    assert env["RETAILFLOW_LAKE"] == f"s3://{bucket}/retail"
    assert env["RETAILFLOW_TRIGGER"] == "none"
    assert env["RETAILFLOW_TIMEZONE"] == "America/New_York"
    assert not set(AIRFLOW_ENV) & set(env)  # trigger none: no Airflow settings, no extra permission
    assert function["Timeout"] == 120

    readiness = inline_policy(iam, physical["ReadinessRole"])
    assert readiness["ListLake"]["Resource"] == f"arn:aws:s3:::{bucket}"
    assert readiness["ReadRawZone"]["Resource"] == f"arn:aws:s3:::{bucket}/retail/raw/*"
    assert readiness["WriteState"]["Resource"] == f"arn:aws:s3:::{bucket}/retail/_state/*"
    assert readiness["Logs"]["Resource"].endswith(":log-group:/aws/lambda/retailflow-readiness:*")

    scheduler = inline_policy(iam, physical["SchedulerRole"])
    assert set(scheduler["InvokeReadiness"]["Resource"]) == {function["FunctionArn"], function["FunctionArn"] + ":*"}

    instance_role = iam.get_role(RoleName=physical["EmrInstanceRole"])["Role"]
    emr_service = inline_policy(iam, physical["EmrServiceRole"])
    assert emr_service["PassInstanceRole"]["Resource"] == instance_role["Arn"]
    profile = iam.get_instance_profile(InstanceProfileName=stack["outputs"]["EmrInstanceProfileName"])
    assert [r["RoleName"] for r in profile["InstanceProfile"]["Roles"]] == [physical["EmrInstanceRole"]]


@pytest.mark.parametrize(
    ("wake", "start_stop"),
    [
        ("i-0123456789abcdef0", ("arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0", None)),
        (
            "Name=airflow",
            (
                "arn:aws:ec2:us-east-1:123456789012:instance/*",
                {"StringEquals": {"aws:ResourceTag/Name": "airflow"}},
            ),
        ),
    ],
    ids=["instance-id", "tag"],
)
def test_stack_with_the_airflow_trigger_reads_its_secret_and_wakes_its_host(aws, wake, start_stop):
    """trigger=airflow, a secret ARN and a host to wake: the function's settings, and on the readiness role
    exactly GetSecretValue on that secret, DescribeInstances (no resource-level permissions) and start/stop
    of that one instance, beside the role's own policy unchanged."""
    stack = deploy(aws, **{**AIRFLOW, "AirflowWakeInstance": wake})
    function = aws.client("lambda").get_function(FunctionName="retailflow-readiness")["Configuration"]
    env = function["Environment"]["Variables"]
    assert env["RETAILFLOW_TRIGGER"] == "airflow"
    assert {k: env.get(k) for k in AIRFLOW_ENV} == {
        "RETAILFLOW_AIRFLOW_URL": "https://airflow.example.com",
        "RETAILFLOW_AIRFLOW_DAG_ID": "retailflow_nightly",
        "RETAILFLOW_AIRFLOW_SECRET_ID": AIRFLOW_SECRET,
        "RETAILFLOW_AIRFLOW_WAKE_INSTANCE": wake,
    }
    assert function["Timeout"] == 900  # room for airflow_wake_timeout_s (600) and the scan

    policies = role_policies(aws.client("iam"), stack["physical"]["ReadinessRole"])
    assert set(policies) == {"readiness", "readiness-airflow-secret", "readiness-airflow-wake"}
    assert set(policies["readiness"]) == set(EXPECTED["ReadinessRole"])
    extra = {**policies["readiness-airflow-secret"], **policies["readiness-airflow-wake"]}
    resource, condition = start_stop
    got = {
        sid: (set(as_list(st["Action"])), set(as_list(st["Resource"])), st.get("Condition"))
        for sid, st in extra.items()
        if st["Effect"] == "Allow"
    }
    assert got == {
        "ReadAirflowSecret": ({"secretsmanager:GetSecretValue"}, {AIRFLOW_SECRET}, None),
        "FindAirflowHost": ({"ec2:DescribeInstances"}, {"*"}, None),
        "StartStopAirflowHost": ({"ec2:StartInstances", "ec2:StopInstances"}, {resource}, condition),
    }
    assert len(got) == len(extra)  # no Deny or other statement either


def test_stack_with_the_crawler_creates_its_role(aws):
    stack = deploy(aws, EnableCrawler="true", LakePrefix="data/retail")
    policy = inline_policy(aws.client("iam"), stack["physical"]["CrawlerRole"])
    assert policy["ReadCurated"]["Resource"] == f"arn:aws:s3:::{PARAMS['LakeBucketName']}/data/retail/curated/*"
    assert stack["outputs"]["LakeUrl"] == f"s3://{PARAMS['LakeBucketName']}/data/retail"


def _set_auth(aws, count: str) -> None:
    """moto enforces IAM policies (actions and resources) on every request from now on ("0"), or never ("inf")."""
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def _with_credentials(aws, credentials: dict, code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with these credentials (no cached S3 clients)."""
    role_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RETAILFLOW_"))},
        **{k: v for k, v in aws.env.items() if k != "AWS_SESSION_TOKEN"},
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        **env,
    }
    return subprocess.run([sys.executable, "-c", code], env=role_env, capture_output=True, text=True, timeout=120)


def test_the_deployed_readiness_role_lets_the_scan_work_and_nothing_more(aws, source, day):
    """The readiness policy as the stack created it, with moto enforcing IAM: the scan reads raw/ and writes
    _state/, and the same credentials cannot write the raw zone or the curated zone."""
    stack = deploy(aws)
    bucket = PARAMS["LakeBucketName"]
    export_days(source, Lake(f"s3://{bucket}/retail"), [day])
    # The role's policy as the stack resolved it, on a user: moto stores a role policy that CloudFormation
    # created in a form its own IAM enforcement cannot read, and it skipped the secret (a statement with
    # no resource). The S3 statements are the stack's, word for word.
    iam = aws.client("iam")
    statements = [st for st in inline_policy(iam, stack["physical"]["ReadinessRole"]).values() if "Resource" in st]
    iam.create_user(UserName="readiness")
    iam.put_user_policy(
        UserName="readiness",
        PolicyName="readiness",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="readiness")["AccessKey"]
    credentials = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    scan = f"import json; from retailflow.readiness.handler import handler; print(json.dumps(handler({{'date': '{day}'}})))"
    write = "from retailflow.lake import Lake; Lake('s3://{bucket}/retail').write_bytes('{zone}/x.txt', b'x')"
    _set_auth(aws, "0")
    try:
        scanned = _with_credentials(
            aws, credentials, scan, RETAILFLOW_LAKE=f"s3://{bucket}/retail", RETAILFLOW_TRIGGER="none"
        )
        denied = {
            zone: _with_credentials(aws, credentials, write.format(bucket=bucket, zone=zone))
            for zone in (f"raw/dt={day}", "curated")
        }
    finally:
        _set_auth(aws, "inf")

    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout.strip().splitlines()[-1])["status"] == "ready"
    assert aws.client("s3").get_object(Bucket=bucket, Key=f"retail/_state/scans/dt={day}.json")
    for zone, done in denied.items():
        assert done.returncode != 0 and "permission denied" in done.stderr, zone


# -- (b) what moto does not model: read from the template -----------------------------------------------


def _value(value, params: dict[str, str]):
    """The few intrinsic functions the template's Conditions use, over parameter values."""
    if isinstance(value, dict):
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return params[arg]
        if fn == "Fn::Sub":
            return re.sub(r"\$\{(\w+)\}", lambda m: params[m.group(1)], arg)
        if fn == "Fn::Split":
            return _value(arg[1], params).split(arg[0])
        if fn == "Fn::Select":
            return _value(arg[1], params)[int(arg[0])]
        raise AssertionError(f"not evaluated here: {fn}")
    return value


def _condition(template: dict, name: str, params: dict[str, str]) -> bool:
    def holds(cond) -> bool:
        ((fn, arg),) = cond.items()
        if fn == "Condition":
            return holds(template["Conditions"][arg])
        if fn == "Fn::Equals":
            return _value(arg[0], params) == _value(arg[1], params)
        if fn == "Fn::Not":
            return not holds(arg[0])
        if fn == "Fn::And":
            return all(holds(c) for c in arg)
        if fn == "Fn::Or":
            return any(holds(c) for c in arg)
        raise AssertionError(f"not evaluated here: {fn}")

    return holds(template["Conditions"][name])


def created(template: dict, **overrides: str) -> dict[str, dict]:
    """The resources a stack with these parameters creates (their conditions hold), by logical id."""
    params = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    params.update(PARAMS, **overrides)
    return {
        name: r
        for name, r in template["Resources"].items()
        if "Condition" not in r or _condition(template, r["Condition"], params)
    }


def test_two_schedules_at_0300_and_0330_new_york_time(template):
    schedules = resources(template, "AWS::Scheduler::Schedule")
    schedules = {name: s for name, s in schedules.items() if "Condition" not in s}
    by_cron = {s["Properties"]["ScheduleExpression"]: s["Properties"] for s in schedules.values()}
    assert set(by_cron) == {"cron(0 3 * * ? *)", "cron(30 3 * * ? *)"}
    for props in by_cron.values():
        assert props["ScheduleExpressionTimezone"] == "America/New_York"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        assert props["Target"]["Arn"] == {"Fn::GetAtt": ["ReadinessFunction", "Arn"]}
        assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert json.loads(by_cron["cron(0 3 * * ? *)"]["Target"]["Input"]) == {}
    late = json.loads(by_cron["cron(30 3 * * ? *)"]["Target"]["Input"])
    assert late == {"deadline": "03:30"} and parse_hhmm(late["deadline"]).hour == 3  # what the handler reads


def test_the_stop_if_idle_schedule_exists_only_when_a_host_is_woken(template):
    def schedules(**overrides) -> dict[str, dict]:
        return {
            name: r["Properties"]
            for name, r in created(template, **overrides).items()
            if r["Type"] == "AWS::Scheduler::Schedule"
        }

    assert set(schedules()) == {"ReadinessSchedule0300", "ReadinessSchedule0330"}
    assert set(schedules(Trigger="airflow", AirflowUrl="https://a.example.com")) == set(schedules())
    assert set(schedules(AirflowWakeInstance="i-0123456789abcdef0")) == set(schedules())  # trigger none
    for wake in ("i-0123456789abcdef0", "Name=airflow"):
        extra = schedules(**{**AIRFLOW, "AirflowWakeInstance": wake})
        assert set(extra) == {"ReadinessSchedule0300", "ReadinessSchedule0330", "ReadinessScheduleStopIfIdle"}
    props = extra["ReadinessScheduleStopIfIdle"]
    assert props["ScheduleExpression"] == "cron(0 7 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "America/New_York"
    assert props["State"] == "ENABLED" and props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["ReadinessFunction", "Arn"]}
    assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert json.loads(props["Target"]["Input"]) == {"action": "stop_if_idle"}  # what the handler reads


def test_the_airflow_parameters_keep_the_defaults_backwards_compatible(template):
    params = template["Parameters"]
    assert params["Trigger"]["Default"] == "none" and params["Trigger"]["AllowedValues"] == ["none", "airflow"]
    assert params["AirflowDagId"]["Default"] == "retailflow_nightly"
    for name in ("AirflowUrl", "AirflowSecretArn", "AirflowWakeInstance"):
        assert params[name]["Default"] == ""
    env = template["Resources"]["ReadinessFunction"]["Properties"]["Environment"]["Variables"]
    assert env["RETAILFLOW_TRIGGER"] == {"Ref": "Trigger"}
    # Nothing Airflow's is created with the defaults, nor with trigger none and Airflow parameters given.
    base = set(created(template))
    assert set(created(template, AirflowSecretArn=AIRFLOW_SECRET, AirflowWakeInstance="Name=airflow")) == base
    assert set(created(template, **AIRFLOW)) - base == {
        "ReadinessAirflowSecretPolicy",
        "ReadinessWakePolicy",
        "ReadinessScheduleStopIfIdle",
    }
    # Without a secret ARN the login is the stack's own secret, which the role reads anyway.
    assert set(created(template, **{**AIRFLOW, "AirflowSecretArn": ""})) - base == {
        "ReadinessWakePolicy",
        "ReadinessScheduleStopIfIdle",
    }
    secret_env = env["RETAILFLOW_AIRFLOW_SECRET_ID"]["Fn::If"]
    assert secret_env[0] == "UseAirflow"
    assert secret_env[1] == {"Fn::If": ["HasAirflowSecret", {"Ref": "AirflowSecretArn"}, {"Ref": "OrchestratorSecret"}]}
    # trigger airflow needs a URL (the Lambda has no local Airflow to fall back on).
    (assertion,) = template["Rules"]["AirflowNeedsItsUrl"]["Assertions"]
    assert template["Rules"]["AirflowNeedsItsUrl"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "Trigger"}, "airflow"]}
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AirflowUrl"}, ""]}]}


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "AirflowUrl",
            ["", "https://airflow.example.com", "http://10.0.0.5:8080", "https://example.com/airflow"],
            ["airflow.example.com", "https://user:pw@example.com", 'https://a"b', "ftp://example.com"],
        ),
        ("AirflowDagId", ["retailflow_nightly", "my.dag-2"], ["", "a b", 'x"y']),
        (
            "AirflowSecretArn",
            ["", AIRFLOW_SECRET, "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-AbCdEf"],
            ["retailflow/airflow", '{"password": "x"}', "arn:aws:s3:::bucket/key"],
        ),
        (
            "AirflowWakeInstance",
            ["", "i-0123456789abcdef0", "i-01234567", "Name=airflow", "aws-cdk:app=retail/flow"],
            ["i-XYZ", "Name", "Name=", "=airflow", "aws:cloudformation:stack-name=x", 'Name="x"', "a=b=c", "N a=x"],
        ),
    ],
)
def test_the_airflow_parameters_allow_only_well_formed_values(template, name, good, bad):
    """AllowedPattern (CloudFormation matches the whole value). The wake instance's also keeps quotes and
    backslashes out of the tag policy's JSON, and what it allows the Lambda's parse_target reads."""
    pattern = re.compile(template["Parameters"][name]["AllowedPattern"])
    for value in good:
        assert pattern.fullmatch(value), value
        if name == "AirflowWakeInstance" and value:
            assert parse_target(value).spec == value
    for value in bad:
        assert not pattern.fullmatch(value), value


def test_the_airflow_policies_grant_exactly_the_secret_and_the_host(template):
    """Both AWS::IAM::Policy resources: on the readiness role, under their conditions, least privilege. The
    wake policy is an object for an instance id and a JSON string for a tag (an IAM condition key cannot
    be built by an intrinsic function), both checked here."""
    policies = resources(template, "AWS::IAM::Policy")
    assert set(policies) == {"ReadinessAirflowSecretPolicy", "ReadinessWakePolicy"}
    assert policies["ReadinessAirflowSecretPolicy"]["Condition"] == "ReadAirflowSecret"
    assert policies["ReadinessWakePolicy"]["Condition"] == "WakeAirflow"
    for policy in policies.values():
        assert policy["Properties"]["Roles"] == [{"Ref": "ReadinessRole"}]

    (secret,) = policies["ReadinessAirflowSecretPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert secret == {
        "Sid": "ReadAirflowSecret",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Ref": "AirflowSecretArn"},
    }

    by_id, by_tag_sub = policies["ReadinessWakePolicy"]["Properties"]["PolicyDocument"]["Fn::If"][1:]
    assert policies["ReadinessWakePolicy"]["Properties"]["PolicyDocument"]["Fn::If"][0] == "WakeById"
    text, names = by_tag_sub["Fn::Sub"]
    by_tag = json.loads(text.replace("${TagKey}", "Name").replace("${TagValue}", "airflow"))
    instances = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance"
    for document, resource, condition in (
        (by_id, f"{instances}/${{AirflowWakeInstance}}", None),
        (by_tag, f"{instances}/*", {"StringEquals": {"aws:ResourceTag/Name": "airflow"}}),
    ):
        got = {st["Sid"]: st for st in document["Statement"]}
        assert set(got) == {"FindAirflowHost", "StartStopAirflowHost"}
        assert all(st["Effect"] == "Allow" for st in got.values())
        assert (got["FindAirflowHost"]["Action"], got["FindAirflowHost"]["Resource"]) == ("ec2:DescribeInstances", "*")
        assert "Condition" not in got["FindAirflowHost"]
        start_stop = got["StartStopAirflowHost"]
        assert set(start_stop["Action"]) == {"ec2:StartInstances", "ec2:StopInstances"}
        assert sub(start_stop["Resource"]) == resource
        assert start_stop.get("Condition") == condition
    params = {name: "" for name in template["Parameters"]}
    for wake, key, value in (
        ("Name=airflow", "Name", "airflow"),
        ("aws-cdk:app=retail/flow", "aws-cdk:app", "retail/flow"),
    ):
        params["AirflowWakeInstance"] = wake
        assert (_value(names["TagKey"], params), _value(names["TagValue"], params)) == (key, value)
        assert not _condition(template, "WakeById", params)
    params["AirflowWakeInstance"] = "i-0123456789abcdef0"
    assert _condition(template, "WakeById", params)


# Least privilege: every Allow statement of every role, exactly. Resources are the !Sub texts.
LAKE = "${LakeBucket.Arn}/${LakePrefix}"
EXPECTED = {
    "ReadinessRole": {
        "ListLake": ({"s3:ListBucket", "s3:GetBucketLocation"}, {"LakeBucket.Arn"}),
        "ReadRawZone": ({"s3:GetObject"}, {f"{LAKE}/raw/*"}),
        "WriteState": ({"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, {f"{LAKE}/_state/*"}),
        "ReadOrchestratorSecret": ({"secretsmanager:GetSecretValue"}, {"OrchestratorSecret"}),
        "Logs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"${ReadinessLogGroup.Arn}:*"}),
    },
    "SchedulerRole": {
        "InvokeReadiness": ({"lambda:InvokeFunction"}, {"ReadinessFunction.Arn", "${ReadinessFunction.Arn}:*"}),
    },
    "CrawlerRole": {
        "ListCurated": ({"s3:ListBucket"}, {"LakeBucket.Arn"}),
        "ReadCurated": ({"s3:GetObject"}, {f"{LAKE}/curated/*"}),
    },
    "EmrServiceRole": {
        "PassInstanceRole": ({"iam:PassRole"}, {"EmrInstanceRole.Arn"}),
    },
    "EmrInstanceRole": {
        "ListLake": ({"s3:ListBucket", "s3:GetBucketLocation"}, {"LakeBucket.Arn"}),
        "ReadRawZone": ({"s3:GetObject"}, {f"{LAKE}/raw/*"}),
        "WriteOutputs": (
            {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
            {f"{LAKE}/{zone}/*" for zone in ("curated", "quarantine", "catalog", "dashboard", "_state", "_staging")},
        ),
        "ReadCode": ({"s3:GetObject"}, {"arn:${AWS::Partition}:s3:::${CodeBucketName}/*"}),
        "GlueTables": (
            {
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:DeleteTable",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:BatchUpdatePartition",
                "glue:BatchDeletePartition",
            },
            {
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog",
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/${GlueDatabaseName}",
                "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${GlueDatabaseName}/*",
            },
        ),
    },
}
MANAGED = {
    "CrawlerRole": ["arn:${AWS::Partition}:iam::aws:policy/service-role/AWSGlueServiceRole"],
    "EmrServiceRole": ["arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"],
}
TRUSTED = {
    "ReadinessRole": "lambda.amazonaws.com",
    "SchedulerRole": "scheduler.amazonaws.com",
    "CrawlerRole": "glue.amazonaws.com",
    "EmrServiceRole": "elasticmapreduce.amazonaws.com",
    "EmrInstanceRole": "ec2.amazonaws.com",
}


def _resource_text(value) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return ".".join(value["Fn::GetAtt"])
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    return sub(value)


def test_each_role_has_exactly_the_least_privilege_statements(template):
    roles = resources(template, "AWS::IAM::Role")
    assert set(roles) == set(EXPECTED)
    for name, role in roles.items():
        got = statements(role)
        assert set(got) == set(EXPECTED[name]), name
        for sid, (actions, targets) in EXPECTED[name].items():
            st = got[sid]
            assert st["Effect"] == "Allow"
            assert set(as_list(st["Action"])) == actions, f"{name}.{sid}"
            assert {_resource_text(r) for r in as_list(st["Resource"])} == targets, f"{name}.{sid}"
            for action in as_list(st["Action"]):
                assert "*" not in action, f"{name}.{sid}: wildcard action {action}"
        assert role["Properties"].get("ManagedPolicyArns", []) == [{"Fn::Sub": a} for a in MANAGED.get(name, [])]
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": TRUSTED[name]} and trust["Action"] == "sts:AssumeRole"


def test_conditions_narrow_what_is_passed_and_listed(template):
    roles = resources(template, "AWS::IAM::Role")
    assert statements(roles["EmrServiceRole"])["PassInstanceRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
    }
    assert statements(roles["CrawlerRole"])["ListCurated"]["Condition"] == {
        "StringLike": {"s3:prefix": {"Fn::Sub": "${LakePrefix}/curated/*"}}
    }
    (trust,) = roles["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_bucket_is_versioned_encrypted_private_with_lifecycle_rules(template):
    props = template["Resources"]["LakeBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (enc,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert enc["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = props["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert sub(rules["raw-zone"]["Prefix"]) == "${LakePrefix}/raw/"
    assert rules["raw-zone"]["ExpirationInDays"] == {"Ref": "RawRetentionDays"}
    assert sub(rules["quarantine"]["Prefix"]) == "${LakePrefix}/quarantine/"
    assert rules["quarantine"]["ExpirationInDays"] == {"Ref": "QuarantineRetentionDays"}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert template["Resources"]["LakeBucket"]["DeletionPolicy"] == "Retain"

    (deny,) = template["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_athena_results_are_encrypted_and_enforced(template):
    config = template["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    assert sub(config["ResultConfiguration"]["OutputLocation"]).startswith("s3://${LakeBucketName}/")


def test_glue_crawler_is_optional_and_off_by_default(template):
    assert template["Parameters"]["EnableCrawler"]["Default"] == "false"
    assert template["Conditions"]["CreateCrawler"] == {"Fn::Equals": [{"Ref": "EnableCrawler"}, "true"]}
    assert template["Resources"]["Crawler"]["Condition"] == "CreateCrawler"
    assert template["Resources"]["CrawlerRole"]["Condition"] == "CreateCrawler"
    assert "Condition" not in template["Resources"]["GlueDatabase"]


def test_secret_is_generated_and_only_the_lambda_reads_it(template):
    secret = template["Resources"]["OrchestratorSecret"]["Properties"]
    assert "SecretString" not in secret and "GenerateSecretString" in secret
    readers = [
        f"{name}.{sid}"
        for name, role in resources(template, "AWS::IAM::Role").items()
        for sid, st in statements(role).items()
        if any(a.startswith("secretsmanager:") for a in as_list(st["Action"]))
    ]
    assert readers == ["ReadinessRole.ReadOrchestratorSecret"]


def test_nothing_account_specific(template):
    text = TEMPLATE.read_text()
    assert not re.search(r"\b\d{12}\b", text), "an account id"
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b", text)
    assert "arn:aws:" not in text, "ARNs are built with ${AWS::Partition}"
    for name, param in template["Parameters"].items():
        if name.endswith("BucketName") and name != "LakeBucketName":
            assert "Default" not in param


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
