#!/bin/sh
# Maven resolves everything from Debian's repository of packaged artifacts (/usr/share/maven-repo) through
# a file:// mirror: no network needed for the plugins of the default lifecycle and the packaged libraries
# (JUnit 4 and 5 among them). A project that needs more gives its own settings (`mvn -s`) and
# `network: egress`. Artifacts are copied into ~/.m2/repository (cached between runs by default).
set -eu
cat > /etc/maven/settings.xml <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Pushbox: resolve from Debian's packaged Maven repository (sandbox/java-bookworm/customize.sh). -->
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors>
    <mirror>
      <id>debian</id>
      <name>Debian's packaged artifacts</name>
      <mirrorOf>*</mirrorOf>
      <url>file:///usr/share/maven-repo</url>
    </mirror>
  </mirrors>
</settings>
XML
echo "[java image] /etc/maven/settings.xml mirrors every repository to file:///usr/share/maven-repo" >&2
