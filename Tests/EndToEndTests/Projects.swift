import Foundation
import TestSupport

/// Small projects pushed by the end-to-end tests.
enum Projects {
    /// A Makefile project whose test prints a summary line `N passed, M failed`.
    static func make(in repo: GitFixture, failing: Bool = false, pipeline: String? = defaultPipeline) throws {
        try repo.write("hello.c", """
            #include <stdio.h>
            int add(int a, int b) { return a + b; }
            int main(void) { printf("hello %d\\n", add(2, 2)); return 0; }
            """)
        try repo.write("Makefile", """
            all: hello
            hello: hello.c
            \tgcc -o hello hello.c
            test: hello
            \t./test.sh
            .PHONY: all test
            """)
        try repo.write("test.sh", """
            #!/bin/sh
            passed=0; failed=0
            if [ "$(./hello)" = "hello 4" ]; then passed=$((passed+1)); echo "ok - add"; else failed=$((failed+1)); echo "FAIL - add"; fi
            if [ \(failing ? "1 = 2" : "2 = 2") ]; then passed=$((passed+1)); echo "ok - compare"; else failed=$((failed+1)); echo "FAIL - compare" >&2; fi
            echo "$passed passed, $failed failed"
            [ "$failed" = 0 ]
            """, executable: true)
        if let pipeline { try repo.write(".pushbox.yml", pipeline) }
    }

    static let defaultPipeline = """
        steps:
          - {name: build, run: make}
          - {name: test, run: make test}
        """
}
