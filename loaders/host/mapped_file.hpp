// Host-side file helper (edge of the engine): maps a file so loaders can view it without
// copying. The mapping is private and writable: pages are shared with the page cache until
// written, and writes stay in this process. A caller about to rewrite most of the file
// (load-time weight repacking) asks for a private copy instead (copy_to_private_memory).
// Not for freestanding builds.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tinyllm/loaders/host/private_memory.hpp"
#include "tinyllm/base/span.hpp"
#include "tinyllm/base/status.hpp"

namespace tinyllm {

class MappedFile {
public:
    MappedFile() = default;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() { close(); }

    Status open(const std::string& path) {
        close();
        // O_NONBLOCK: opening a FIFO or device must not wait for a writer; only regular files pass.
        int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
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
        if (p == MAP_FAILED) {
            ::close(fd);
            return Status::fail(Error::io_error, "cannot map '", path, "'");
        }
        fd_ = fd;
        mapped_ = data_ = static_cast<uint8_t*>(p);
        path_ = path;
        return Status{};
    }

    // From now on bytes() and writable() are a private copy of the file in PrivateMemory
    // (2 MiB pages where the kernel grants them), read from the file rather than through the
    // mapping, so the process holds one copy. Rewriting most of a copy-on-write mapping would
    // copy it too, 4 KiB at a time. The mapping stays, so pointers taken before stay valid.
    // File offset `line_aligned` lands on a 64-byte boundary in the copy: a GGUF's tensor data
    // section need only be 32-aligned, and repacked weights are read in 64-byte vectors.
    Status copy_to_private_memory(uint64_t line_aligned = 0) {
        if (!mapped_ || data_ != mapped_) return Status{};
        const size_t shift = size_t((64 - line_aligned % 64) % 64);
        Status st = copy_.allocate(size_ + shift);
        if (!st) return st;
        uint8_t* copy = copy_.data() + shift;
        for (size_t done = 0; done < size_;) {
            const ssize_t got = pread(fd_, copy + done, size_ - done, off_t(done));
            if (got <= 0) return Status::fail(Error::io_error, "cannot read '", path_, "'");
            done += size_t(got);
        }
        data_ = copy;
        return Status{};
    }

    ByteSpan bytes() const { return ByteSpan{data_, size_}; }
    uint8_t* writable() { return data_; }

private:
    void close() {
        if (mapped_) munmap(mapped_, size_);
        if (fd_ >= 0) ::close(fd_);
        copy_.release();
        fd_ = -1;
        mapped_ = data_ = nullptr;
        size_ = 0;
    }
    int fd_ = -1;  // kept open for copy_to_private_memory
    std::string path_;
    uint8_t* mapped_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
    PrivateMemory copy_;
};

} // namespace tinyllm
