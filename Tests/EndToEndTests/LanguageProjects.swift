import Foundation
import Testing
import TestSupport

/// A small real project per language, with no `.pushbox.yml`: detection must pick the image and steps.
/// Each has two tests; `failing: true` breaks one of them, so a failing run reports 1 passed, 1 failed.
struct LanguageProject: Sendable, CustomTestStringConvertible {
    var language: String
    /// `detected:` as the run records it.
    var detected: String
    var image: String
    var steps: [String]
    /// The step whose test counts are checked.
    var testStep: String
    var write: @Sendable (GitFixture, _ failing: Bool) throws -> Void

    var testDescription: String { language }

    static let all: [LanguageProject] = [node, go, rust, java, python, cmake, make]

    static let node = LanguageProject(
        language: "node", detected: "node (package.json)", image: "pushbox/node:bookworm", steps: ["install", "test"], testStep: "test"
    ) { repo, failing in
        try repo.write("package.json", """
            {"name": "calc", "version": "1.0.0", "private": true, "scripts": {"test": "node --test"}}
            """)
        try repo.write("calc.js", "exports.add = (a, b) => a + b\(failing ? " + 1" : "");\nexports.mul = (a, b) => a * b;\n")
        try repo.write("test/calc.test.js", """
            const test = require('node:test');
            const assert = require('node:assert');
            const calc = require('../calc');
            test('add', () => assert.strictEqual(calc.add(2, 2), 4));
            test('mul', () => assert.strictEqual(calc.mul(2, 3), 6));
            """)
    }

    static let go = LanguageProject(
        language: "go", detected: "go (go.mod)", image: "pushbox/go:bookworm", steps: ["build", "test"], testStep: "test"
    ) { repo, failing in
        try repo.write("go.mod", "module example.com/calc\n\ngo 1.19\n")
        try repo.write("calc.go", "package calc\n\nfunc Add(a, b int) int { return a + b\(failing ? " + 1" : "") }\n\nfunc Mul(a, b int) int { return a * b }\n")
        try repo.write("calc_test.go", """
            package calc

            import "testing"

            func TestAdd(t *testing.T) {
            \tif Add(2, 2) != 4 {
            \t\tt.Fatalf("Add(2, 2) = %d", Add(2, 2))
            \t}
            }

            func TestMul(t *testing.T) {
            \tif Mul(2, 3) != 6 {
            \t\tt.Fatalf("Mul(2, 3) = %d", Mul(2, 3))
            \t}
            }

            """)
    }

    static let rust = LanguageProject(
        language: "rust", detected: "rust (Cargo.toml)", image: "pushbox/rust:bookworm", steps: ["build", "test"], testStep: "test"
    ) { repo, failing in
        try repo.write("Cargo.toml", "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n")
        try repo.write("src/lib.rs", """
            pub fn add(a: i64, b: i64) -> i64 { a + b\(failing ? " + 1" : "") }
            pub fn mul(a: i64, b: i64) -> i64 { a * b }

            #[cfg(test)]
            mod tests {
                #[test]
                fn add() { assert_eq!(super::add(2, 2), 4); }
                #[test]
                fn mul() { assert_eq!(super::mul(2, 3), 6); }
            }

            """)
    }

    static let java = LanguageProject(
        language: "java", detected: "java (pom.xml)", image: "pushbox/java:bookworm", steps: ["test"], testStep: "test"
    ) { repo, failing in
        try repo.write("pom.xml", """
            <?xml version="1.0" encoding="UTF-8"?>
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <modelVersion>4.0.0</modelVersion>
              <groupId>example</groupId>
              <artifactId>calc</artifactId>
              <version>1.0</version>
              <properties>
                <maven.compiler.source>17</maven.compiler.source>
                <maven.compiler.target>17</maven.compiler.target>
                <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
              </properties>
              <dependencies>
                <dependency>
                  <groupId>junit</groupId>
                  <artifactId>junit</artifactId>
                  <version>4.13.2</version>
                  <scope>test</scope>
                </dependency>
              </dependencies>
            </project>
            """)
        try repo.write("src/main/java/calc/Calc.java", """
            package calc;

            public class Calc {
                public static int add(int a, int b) { return a + b\(failing ? " + 1" : ""); }
                public static int mul(int a, int b) { return a * b; }
            }
            """)
        try repo.write("src/test/java/calc/CalcTest.java", """
            package calc;

            import static org.junit.Assert.assertEquals;
            import org.junit.Test;

            public class CalcTest {
                @Test public void add() { assertEquals(4, Calc.add(2, 2)); }
                @Test public void mul() { assertEquals(6, Calc.mul(2, 3)); }
            }
            """)
    }

    /// A src layout whose build backend (hatchling) is not in the image: the install cannot work
    /// offline, and the tests must still run from the checkout.
    static let python = LanguageProject(
        language: "python", detected: "python (pyproject.toml)", image: "pushbox/debian:bookworm", steps: ["install", "test"], testStep: "test"
    ) { repo, failing in
        try repo.write("pyproject.toml", """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "calc"
            version = "0.1.0"
            """)
        try repo.write("src/calc/__init__.py", "def add(a, b):\n    return a + b\(failing ? " + 1" : "")\n\n\ndef mul(a, b):\n    return a * b\n")
        try repo.write("tests/test_calc.py", """
            import calc


            def test_add():
                assert calc.add(2, 2) == 4


            def test_mul():
                assert calc.mul(2, 3) == 6

            """)
    }

    static let cmake = LanguageProject(
        language: "cmake", detected: "cmake (CMakeLists.txt)", image: "pushbox/debian:bookworm",
        steps: ["configure", "build", "test"], testStep: "test"
    ) { repo, failing in
        try repo.write("CMakeLists.txt", """
            cmake_minimum_required(VERSION 3.13)
            project(calc C)
            enable_testing()
            add_executable(calc_test calc_test.c)
            add_test(NAME add COMMAND calc_test add)
            add_test(NAME mul COMMAND calc_test mul)
            """)
        try repo.write("calc_test.c", """
            #include <string.h>
            static int add(int a, int b) { return a + b\(failing ? " + 1" : ""); }
            static int mul(int a, int b) { return a * b; }
            int main(int argc, char **argv) {
                if (argc > 1 && strcmp(argv[1], "add") == 0) return add(2, 2) == 4 ? 0 : 1;
                if (argc > 1 && strcmp(argv[1], "mul") == 0) return mul(2, 3) == 6 ? 0 : 1;
                return 2;
            }
            """)
    }

    static let make = LanguageProject(
        language: "make", detected: "make (Makefile)", image: "pushbox/debian:bookworm", steps: ["build", "test"], testStep: "test"
    ) { repo, failing in
        try Projects.make(in: repo, failing: failing, pipeline: nil)
    }
}
