"""Packaging of the cdr-dagster code location (the CDR Scheduler rebuilt on Dagster)."""

from setuptools import find_packages, setup

DAGSTER_VERSION = "1.13.27"
DAGSTER_LIBRARY_VERSION = "0.29.27"

setup(
    name="cdr_dagster",
    version="0.1.0",
    description="Dagster code location replacing the PDQ CDR Scheduler",
    python_requires=">=3.10,<3.15",
    packages=find_packages(include=["cdr_dagster", "cdr_dagster.*"]),
    package_data={
        "cdr_dagster": [
            "schedules.yaml",
            "demo/data/*",
            "demo/data/ctgov/*.json",
            "demo/scripts/*",
            "filters/*.xsl",
            "cdr/schemas/*.xsd",
        ]
    },
    include_package_data=True,
    install_requires=[
        f"dagster=={DAGSTER_VERSION}",
        f"dagster-webserver=={DAGSTER_VERSION}",
        f"dagster-graphql=={DAGSTER_VERSION}",
        f"dagster-postgres=={DAGSTER_LIBRARY_VERSION}",
        "sqlalchemy>=2.0,<2.1",
        "pyodbc>=5",
        "elasticsearch>=7.17,<8",
        "paramiko>=3.4",
        "lxml>=5",
        "pyyaml>=6",
        "psutil>=5.9",
        "requests>=2.31",
        "openpyxl>=3.1",
        "pillow>=10",
    ],
    extras_require={
        "dev": [
            f"dagster-dg-cli=={DAGSTER_VERSION}",
            "pytest>=8",
            "pytest-timeout>=2.3",
            "pytest-httpserver>=1.1",
            "aiosmtpd>=1.4.6",
            "asyncssh>=2.17",
            "psycopg2-binary>=2.9",
            "apscheduler>=3.11,<4",
            "ruff>=0.6",
        ],
    },
    entry_points={"console_scripts": ["cdr-dagster=cdr_dagster.cli:main"]},
)
