// Host-side file helper (edge of the engine): maps a file so loaders can view it without
// copying. The mapping is private and writable: pages are shared with the page cache until
// written, and writes (load-time weight repacking) stay in this process. Not for freestanding
// builds.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tinyllm/span.hpp"
#include "tinyllm/status.hpp"

namespace tinyllm {

class MappedFile {
public:
    MappedFile() = default;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() { close(); }

    Status open(const std::string& path) {
        close();
        int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0) return Status::fail(Error::io_error, "cannot open '", path, "'");
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            return Status::fail(Error::io_error, "'", path, "' is not a regular file");
        }
        size_ = size_t(st.st_size);
        if (size_ == 0) {
            ::close(fd);
            return Status{};
        }
        void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED) return Status::fail(Error::io_error, "cannot map '", path, "'");
        data_ = static_cast<uint8_t*>(p);
        return Status{};
    }

    ByteSpan bytes() const { return ByteSpan{data_, size_}; }
    uint8_t* writable() { return data_; }

private:
    void close() {
        if (data_) munmap(data_, size_);
        data_ = nullptr;
        size_ = 0;
    }
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

} // namespace tinyllm
